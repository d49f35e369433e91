import { closeSync, constants as fsConstants, fstatSync, openSync, statSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { SysError, errnoOf, libc, toSysError } from '@kmx/core';
import {
  NoOwnerError, NoParentError, NotHierarchicalError, NotNamespaceError, NotUserNamespaceError, OwnerInaccessibleError,
  ParentInaccessibleError,
} from './errors.js';
import { INITIAL_PID_NS_INODE, INITIAL_USER_NS_INODE, namespaceLabel, typeOfCloneFlag, type NamespaceType } from './types.js';

/** What the relation functions accept: a path, an open fd, a FileHandle, or a handle. */
export type NamespaceRef = string | number | FileHandle | NamespaceHandle;

const EPERM = 1;
const EINVAL = 22;
const ENOTTY = 25;

const PROC_LINK = /^\/proc\/\d+(\/task\/\d+)?\/ns\/[a-z_]+$/;

/** `/proc/PID/ns/TYPE` or `/proc/PID/task/TID/ns/TYPE`: a link that always leads to nsfs. */
export function isProcNamespaceLink(path: string): boolean {
  return PROC_LINK.test(path);
}

let nsfsDevice: number | undefined;

/** The st_dev every nsfs file shares: how a path or fd is recognised as a namespace. */
function nsfsDev(): number {
  nsfsDevice ??= statSync('/proc/self/ns/user').dev;
  return nsfsDevice;
}

function statOrThrow(stat: () => Stats): Stats {
  try {
    return stat();
  } catch (err) {
    throw toSysError(err);
  }
}

// NS_GET_ID came with 6.x; older kernels answer ENOTTY. Probed once.
let namespaceIdsSupported = true;

/**
 * An open namespace (an fd on an nsfs file). Handles that kmx opened, including every
 * namespace a relation returns, are the caller's to close: `using ns = getParentNs(…)`, or
 * close(). A handle made from the caller's own fd (fromFd) never closes that fd.
 */
export class NamespaceHandle implements Disposable {
  private descriptor: number | undefined;
  private cachedType: NamespaceType | undefined;

  private constructor(
    fd: number,
    private readonly owned: boolean,
    /** Where the handle came from (a path, `fd 7`), for messages. */
    readonly source: string,
    stat: Stats,
  ) {
    this.descriptor = fd;
    this.inode = stat.ino;
    this.device = stat.dev;
  }

  readonly inode: number;
  readonly device: number;

  /**
   * Opens a namespace by path (/proc/PID/ns/TYPE, /proc/PID/fd/N, a bind mount). The path is
   * checked to be an nsfs file before it is opened, so a device node is never opened by mistake.
   */
  static open(path: string): NamespaceHandle {
    const before = statOrThrow(() => statSync(path));
    if (before.dev !== nsfsDev()) throw new NotNamespaceError(path);
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
    } catch (err) {
      throw toSysError(err);
    }
    const stat = fstatSync(fd);
    if (stat.dev !== before.dev || stat.ino !== before.ino) {
      closeSync(fd); // replaced between stat and open
      throw new NotNamespaceError(path);
    }
    return new NamespaceHandle(fd, true, path, stat);
  }

  /**
   * Opens a /proc/PID[/task/TID]/ns/TYPE link, which can only lead to nsfs: without the stat
   * first (discovery opens hundreds), but still checked once open.
   */
  static openProcLink(path: string): NamespaceHandle {
    if (!isProcNamespaceLink(path)) throw SysError.of('EINVAL', 'open', path, { detail: 'not a /proc namespace link' });
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_RDONLY);
    } catch (err) {
      throw toSysError(err);
    }
    const stat = fstatSync(fd);
    if (stat.dev !== nsfsDev()) {
      closeSync(fd);
      throw new NotNamespaceError(path);
    }
    return new NamespaceHandle(fd, true, path, stat);
  }

  /** A handle on the caller's fd (it stays the caller's: close() leaves it open). */
  static fromFd(fd: number, source = `fd ${fd}`): NamespaceHandle {
    const stat = statOrThrow(() => fstatSync(fd));
    if (stat.dev !== nsfsDev()) throw new NotNamespaceError(source);
    return new NamespaceHandle(fd, false, source, stat);
  }

  /** Takes over an fd the kernel just returned (NS_GET_PARENT, NS_GET_USERNS). */
  private static adopt(fd: number, source: string): NamespaceHandle {
    try {
      return new NamespaceHandle(fd, true, source, fstatSync(fd));
    } catch (err) {
      closeSync(fd);
      throw toSysError(err);
    }
  }

  get fd(): number {
    if (this.descriptor === undefined) throw SysError.of('EBADF', 'namespace', this.source, { detail: 'the handle is closed' });
    return this.descriptor;
  }

  get closed(): boolean {
    return this.descriptor === undefined;
  }

  /** NS_GET_NSTYPE, asked once. */
  get type(): NamespaceType {
    if (this.cachedType === undefined) {
      const flag = libc.ioctl(this.fd, libc.NS_GET_NSTYPE, 'NS_GET_NSTYPE');
      const type = typeOfCloneFlag(flag);
      if (type === undefined) throw SysError.of('EINVAL', 'NS_GET_NSTYPE', this.source, { detail: `unknown namespace type 0x${flag.toString(16)}` });
      this.cachedType = type;
    }
    return this.cachedType;
  }

  /** `user:[4026531837]`. */
  get label(): string {
    return namespaceLabel(this.type, this.inode);
  }

  /** The parent of a user or PID namespace, as a new handle. */
  parent(): NamespaceHandle {
    try {
      return NamespaceHandle.adopt(libc.ioctl(this.fd, libc.NS_GET_PARENT, 'NS_GET_PARENT'), `parent of ${this.label}`);
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === EINVAL) throw new NotHierarchicalError(this.label);
      if (errno === EPERM) throw this.isInitial() ? new NoParentError(this.label) : new ParentInaccessibleError(this.label);
      throw err;
    }
  }

  /** The owning user namespace (for a user namespace: its parent), as a new handle. */
  owner(): NamespaceHandle {
    try {
      return NamespaceHandle.adopt(libc.ioctl(this.fd, libc.NS_GET_USERNS, 'NS_GET_USERNS'), `owner of ${this.label}`);
    } catch (err) {
      if (errnoOf(err) === EPERM) {
        throw this.type === 'user' && this.inode === INITIAL_USER_NS_INODE ? new NoOwnerError(this.label) : new OwnerInaccessibleError(this.label);
      }
      throw err;
    }
  }

  /** The uid that created this user namespace, as the caller's user namespace sees it. */
  ownerUid(): number {
    try {
      return libc.ioctlOutU32(this.fd, libc.NS_GET_OWNER_UID, 'NS_GET_OWNER_UID');
    } catch (err) {
      if (errnoOf(err) === EINVAL) throw new NotUserNamespaceError(this.label);
      throw err;
    }
  }

  /** The 64-bit id that is never reused (NS_GET_ID), or undefined on kernels without it. */
  id(): bigint | undefined {
    if (!namespaceIdsSupported) return undefined;
    try {
      return libc.ioctlOutU64(this.fd, libc.NS_GET_ID, 'NS_GET_ID');
    } catch (err) {
      if (errnoOf(err) !== ENOTTY) throw err;
      namespaceIdsSupported = false;
      return undefined;
    }
  }

  private isInitial(): boolean {
    return (this.type === 'user' && this.inode === INITIAL_USER_NS_INODE) || (this.type === 'pid' && this.inode === INITIAL_PID_NS_INODE);
  }

  close(): void {
    if (this.descriptor === undefined) return;
    const fd = this.descriptor;
    this.descriptor = undefined;
    if (this.owned) closeSync(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Runs `body` on a handle for `ref`: a handle is used as is, an fd or FileHandle is borrowed,
 * a path is opened and closed again afterwards.
 */
export function withNamespace<T>(ref: NamespaceRef, body: (ns: NamespaceHandle) => T): T {
  if (ref instanceof NamespaceHandle) return body(ref);
  const handle = typeof ref === 'string' ? NamespaceHandle.open(ref) : NamespaceHandle.fromFd(typeof ref === 'number' ? ref : ref.fd);
  try {
    return body(handle);
  } finally {
    handle.close();
  }
}

/** The type of a namespace (NS_GET_NSTYPE). */
export function getNsType(ref: NamespaceRef): NamespaceType {
  return withNamespace(ref, (ns) => ns.type);
}

/** The owning user namespace, as a new handle the caller closes (NS_GET_USERNS). */
export function getUserNs(ref: NamespaceRef): NamespaceHandle {
  return withNamespace(ref, (ns) => ns.owner());
}

/** The parent of a user or PID namespace, as a new handle the caller closes (NS_GET_PARENT). */
export function getParentNs(ref: NamespaceRef): NamespaceHandle {
  return withNamespace(ref, (ns) => ns.parent());
}

/** The uid that owns a user namespace (NS_GET_OWNER_UID). */
export function getOwnerUid(ref: NamespaceRef): number {
  return withNamespace(ref, (ns) => ns.ownerUid());
}

/** The 64-bit namespace id (NS_GET_ID), or undefined where the kernel lacks it. */
export function getNsId(ref: NamespaceRef): bigint | undefined {
  return withNamespace(ref, (ns) => ns.id());
}
