// What the main thread and a connection's worker (worker.ts) say to each other.

/** How a worker connects: everything but the password is also in kmx's records. */
export interface ConnectionSetup {
  server: string;
  port: number;
  share: string;
  /** A directory inside the share served as the mount's root: '' or '/a/b'. */
  path: string;
  user: string;
  domain: string;
  /** The password's bytes; empty with Kerberos. Given to libsmbclient's auth callback only. */
  password: Uint8Array;
  kerberos: boolean;
  /** smb.conf protocol names, e.g. SMB3_11; empty: libsmbclient's defaults. */
  minProtocol: string;
  maxProtocol: string;
  timeoutMs: number;
}

/** Attributes as libsmbclient's struct stat gives them (uid/gid are the mount's own, set on the main side). */
export interface RemoteStat {
  mode: number;
  nlink: number;
  size: number;
  ino: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface RemoteEntry {
  name: string;
  stat: RemoteStat;
}

export interface RemoteStatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namemax: number;
}

/** The requests, by operation: paths are share-relative ('/a/b'); handles are the worker's own numbers. */
export interface Operations {
  stat: { args: [path: string]; result: RemoteStat };
  fstat: { args: [handle: number]; result: RemoteStat };
  open: { args: [path: string, flags: number, mode: number]; result: number };
  close: { args: [handle: number]; result: undefined };
  read: { args: [handle: number, position: number, length: number]; result: Uint8Array };
  write: { args: [handle: number, position: number, data: Uint8Array]; result: number };
  ftruncate: { args: [handle: number, size: number]; result: undefined };
  unlink: { args: [path: string]; result: undefined };
  rename: { args: [from: string, to: string]; result: undefined };
  mkdir: { args: [path: string, mode: number]; result: undefined };
  rmdir: { args: [path: string]; result: undefined };
  chmod: { args: [path: string, mode: number]; result: undefined };
  /** Seconds and microseconds: libsmbclient takes struct timeval. */
  utimes: { args: [path: string, atime: [number, number], mtime: [number, number]]; result: undefined };
  readdir: { args: [path: string]; result: RemoteEntry[] };
  statvfs: { args: [path: string]; result: RemoteStatFs };
  /** Forgets the connection to the server (after it failed): the next call connects again. */
  reconnect: { args: []; result: undefined };
  /** Closes everything and frees the context; the worker then ends. */
  shutdown: { args: []; result: undefined };
}

export type OperationName = keyof Operations;

export interface Request<K extends OperationName = OperationName> {
  id: number;
  op: K;
  args: Operations[K]['args'];
}

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; errno: number };

/** The worker's first message: connected (the share answered a stat of its root) or why not. */
export type Hello = { ready: true } | { ready: false; errno: number; message: string };
