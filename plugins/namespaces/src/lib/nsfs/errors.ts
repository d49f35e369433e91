import { SysError, errnoNumber } from '@kmx/core';

// The cases linuxns-rel's FAQ tells apart, each its own class so a caller can catch exactly
// the one it expects; each is a SysError carrying the errno the kernel gave and the ioctl.

/** Base of every namespace-relation error. `subject` is what was asked about (`net:[…]` or a path). */
export abstract class NamespaceError extends SysError {
  constructor(
    code: string,
    syscall: string,
    readonly subject: string,
    message: string,
    hint?: string,
  ) {
    super(errnoNumber(code) ?? 0, syscall, subject, { hint });
    this.message = message;
  }
}

/** A path or fd that is not an nsfs file at all (the kernel's answer would be ENOTTY). */
export class NotNamespaceError extends NamespaceError {
  constructor(subject: string) {
    super('ENOTTY', 'ioctl', subject, `${subject} is not a namespace: not an nsfs file (ENOTTY)`,
      'give /proc/PID/ns/TYPE, a bind-mounted namespace (such as /run/netns/NAME) or a pid');
    this.name = 'NotNamespaceError';
  }
}

/** NS_GET_PARENT on a namespace that is neither a user nor a PID namespace (EINVAL). */
export class NotHierarchicalError extends NamespaceError {
  constructor(subject: string) {
    super('EINVAL', 'NS_GET_PARENT', subject, `${subject} has no parent: only user and PID namespaces are hierarchical (EINVAL)`);
    this.name = 'NotHierarchicalError';
  }
}

/** NS_GET_PARENT on the initial user or PID namespace: the root of its hierarchy (EPERM). */
export class NoParentError extends NamespaceError {
  constructor(subject: string) {
    super('EPERM', 'NS_GET_PARENT', subject, `${subject} has no parent: it is the initial namespace, the root of the hierarchy (EPERM)`);
    this.name = 'NoParentError';
  }
}

/** NS_GET_PARENT whose parent lies outside the caller's own namespace (EPERM). */
export class ParentInaccessibleError extends NamespaceError {
  constructor(subject: string) {
    super('EPERM', 'NS_GET_PARENT', subject, `the parent of ${subject} is not accessible: it lies outside the caller's namespace (EPERM)`,
      'run from an ancestor namespace (the initial one sees everything)');
    this.name = 'ParentInaccessibleError';
  }
}

/** NS_GET_USERNS on the initial user namespace, which no user namespace owns (EPERM). */
export class NoOwnerError extends NamespaceError {
  constructor(subject: string) {
    super('EPERM', 'NS_GET_USERNS', subject, `${subject} has no owning user namespace: it is the initial user namespace (EPERM)`);
    this.name = 'NoOwnerError';
  }
}

/** NS_GET_USERNS whose owning user namespace lies outside the caller's user namespace (EPERM). */
export class OwnerInaccessibleError extends NamespaceError {
  constructor(subject: string) {
    super('EPERM', 'NS_GET_USERNS', subject, `the owning user namespace of ${subject} is not accessible: it lies outside the caller's user namespace (EPERM)`,
      'run from an ancestor user namespace (the initial one sees everything)');
    this.name = 'OwnerInaccessibleError';
  }
}

/** NS_GET_OWNER_UID on anything but a user namespace (EINVAL). */
export class NotUserNamespaceError extends NamespaceError {
  constructor(subject: string) {
    super('EINVAL', 'NS_GET_OWNER_UID', subject, `${subject} has no owner uid: it is not a user namespace (EINVAL)`,
      'ask its owning user namespace (getUserNs) for the owner uid');
    this.name = 'NotUserNamespaceError';
  }
}
