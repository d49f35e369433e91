import { libc } from '@kmx/core';

/** The eight namespace types, in the order /proc/PID/ns lists them. */
export const NAMESPACE_TYPES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

/** Only these have parents (NS_GET_PARENT). */
export const HIERARCHICAL_TYPES: readonly NamespaceType[] = ['user', 'pid'];

const CLONE_FLAGS: Readonly<Record<NamespaceType, number>> = {
  cgroup: libc.CLONE_NEWCGROUP,
  ipc: libc.CLONE_NEWIPC,
  mnt: libc.CLONE_NEWNS,
  net: libc.CLONE_NEWNET,
  pid: libc.CLONE_NEWPID,
  time: libc.CLONE_NEWTIME,
  user: libc.CLONE_NEWUSER,
  uts: libc.CLONE_NEWUTS,
};

/** The CLONE_NEW* flag of a type: what NS_GET_NSTYPE returns and setns(2) takes. */
export function cloneFlagOf(type: NamespaceType): number {
  return CLONE_FLAGS[type];
}

export function typeOfCloneFlag(flag: number): NamespaceType | undefined {
  return NAMESPACE_TYPES.find((t) => CLONE_FLAGS[t] === flag);
}

export function isNamespaceType(text: string): text is NamespaceType {
  return (NAMESPACE_TYPES as readonly string[]).includes(text);
}

/**
 * The inodes the kernel gives the initial user and PID namespaces (PROC_USER_INIT_INO,
 * PROC_PID_INIT_INO): fixed, so an EPERM from NS_GET_PARENT can be told apart: at the root of
 * the hierarchy, or a parent outside the caller's reach.
 */
export const INITIAL_USER_NS_INODE = 0xeffffffd;
export const INITIAL_PID_NS_INODE = 0xeffffffc;

/** What a namespace is called everywhere: `net:[4026531833]`, as readlink shows it. */
export function namespaceLabel(type: NamespaceType, inode: number): string {
  return `${type}:[${inode}]`;
}

const LINK = /^([a-z]+):\[(\d+)\]$/;

/**
 * `net:[4026531833]` (a /proc/PID/ns or /proc/PID/fd link, or the root of an nsfs mount in
 * mountinfo) as its type and inode; undefined for anything else (`socket:[…]`, `pipe:[…]`).
 */
export function parseNamespaceLink(text: string): { type: NamespaceType; inode: number } | undefined {
  const match = LINK.exec(text);
  if (!match || !isNamespaceType(match[1] ?? '')) return undefined;
  return { type: match[1] as NamespaceType, inode: Number(match[2]) };
}
