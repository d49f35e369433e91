import type { NamespaceType } from '../nsfs/types.js';

/** How a namespace was found; a namespace found several ways lists each. */
export type Route = 'proc' | 'task' | 'fd' | 'bind-mount' | 'hierarchy' | 'ownership';
export const ROUTES: readonly Route[] = ['proc', 'task', 'fd', 'bind-mount', 'hierarchy', 'ownership'];

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The kernel's short name (comm), as in /proc/PID/stat. */
  command: string;
  /** Owner of /proc/PID (its effective uid). */
  uid: number;
  /** Inode of each namespace the process is in (those that could be read). */
  namespaces: Partial<Record<NamespaceType, number>>;
}

/** A thread whose namespace differs from its process's (it called setns or unshare). */
export interface ThreadHolder {
  pid: number;
  tid: number;
}

/** An open file descriptor on the namespace. */
export interface FdHolder {
  pid: number;
  fd: number;
}

/** An nsfs bind mount of the namespace, in the mount namespace `mountNamespace`. */
export interface BindMountHolder {
  mountNamespace: number;
  mountpoint: string;
}

export interface NamespaceRecord {
  type: NamespaceType;
  inode: number;
  /** NS_GET_ID: never reused, unlike inodes; undefined on older kernels or when unreachable. */
  id: bigint | undefined;
  /** Parent (user and PID namespaces), by inode. */
  parent: number | undefined;
  children: number[];
  /** The owning user namespace, by inode (for a user namespace: its parent). */
  owner: number | undefined;
  /** For a user namespace the uid that created it; for others, that of their owning user namespace. */
  ownerUid: number | undefined;
  ownerName: string | undefined;
  /** Network namespaces: the id ours gives it (lsns's NETNSID; -1 unassigned), undefined if unknown. */
  netnsid: number | undefined;
  /** Pids of the processes in it, ascending. */
  processes: number[];
  /** Those of `processes` whose parent process is not in it. */
  topmost: number[];
  threads: ThreadHolder[];
  fds: FdHolder[];
  bindMounts: BindMountHolder[];
  /** Processes whose future children join it (pid_for_children, time_for_children). */
  forChildrenOf: number[];
  foundBy: Route[];
}

export type InaccessibleKind = 'process' | 'threads' | 'fds' | 'mount table' | 'namespace' | 'parent' | 'owner';

/** Something discovery could not look at; the listing goes on without it. */
export interface Inaccessible {
  kind: InaccessibleKind;
  /** What was tried: a path, or a namespace label. */
  target: string;
  /** Errno name (EACCES, EPERM, …). */
  code: string;
  /** Why, in words, when the errno does not say enough. */
  reason?: string;
}

export interface NamespaceSnapshot {
  /** Every namespace found, by inode. */
  namespaces: Map<number, NamespaceRecord>;
  processes: Map<number, ProcessInfo>;
  inaccessible: Inaccessible[];
  /** The namespaces of the process that made the snapshot. */
  self: Partial<Record<NamespaceType, number>>;
}

export function newRecord(type: NamespaceType, inode: number): NamespaceRecord {
  return {
    type, inode, id: undefined, parent: undefined, children: [], owner: undefined, ownerUid: undefined, ownerName: undefined, netnsid: undefined,
    processes: [], topmost: [], threads: [], fds: [], bindMounts: [], forChildrenOf: [], foundBy: [],
  };
}
