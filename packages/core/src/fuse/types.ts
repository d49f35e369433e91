import type { Timespec } from '../libc/files.js';

export type { Timespec };
export type MaybePromise<T> = T | Promise<T>;

/** Who made a FUSE request. Engines fill in what they know; the libfuse3 engine knows all of it. */
export interface Caller {
  readonly uid: number;
  readonly gid: number;
  /** The calling thread's pid in the server's pid namespace; 0 when the kernel sent none. */
  readonly pid: number;
  /** The caller's umask, for filesystems that apply it themselves; 0 when unknown. */
  readonly umask: number;
}

/** What getattr returns: struct stat, with nanosecond times. */
export interface Attr {
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** Engines report it as st_ino only where the filesystem keeps stable inode numbers. */
  ino?: number;
  rdev?: number;
  blksize?: number;
  blocks?: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /**
   * How long (seconds) the kernel may keep this name and these attributes, where the
   * filesystem knows better than the mount's entry and attribute timeouts. The libfuse3
   * engine honours it; fuse-native has only the mount's timeouts.
   */
  validSeconds?: number;
}

export interface DirEntry {
  name: string;
  /** Given, it lets the engine answer READDIRPLUS and d_type without a lookup per entry. */
  attr?: Attr;
}

/** The reply to open, create and opendir. */
export interface OpenReply {
  /** The filesystem's handle for later read/write/release: a positive integer below 2^31. */
  fh: number;
  /** Bypass the page cache for this file (size-less files such as /proc's). */
  directIo?: boolean;
  /** Keep cached pages from an earlier open of this file. */
  keepCache?: boolean;
  nonSeekable?: boolean;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail?: number;
  namemax: number;
}

/** One of utimens' two times: a value, the current time, or "leave it unchanged". */
export type TimeUpdate = Timespec | 'now' | 'omit';

/**
 * The one filesystem interface every kmx FUSE filesystem implements, whatever engine serves it.
 * Paths are absolute within the filesystem ('/', '/a/b'). Operations return values (or
 * promises of them) and report failure by throwing an error with an errno: a SysError, or a
 * Node fs error, which carries one. Anything else becomes EIO and one log line.
 *
 * Buffers handed to read and write belong to the engine: they are valid only until the
 * operation settles, so keep a copy of what must outlive it.
 *
 * The caller is always the last argument, so implementations that don't need it omit it.
 * Operations a filesystem leaves out answer ENOSYS (getattr is required).
 */
export interface FileSystem {
  /** The kernel's INIT arrived: the mount is live. */
  init?(): MaybePromise<void>;
  /** The session ended (unmounted); release resources. */
  destroy?(): MaybePromise<void>;

  getattr(path: string, fh: number | undefined, caller: Caller): MaybePromise<Attr>;
  access?(path: string, mask: number, caller: Caller): MaybePromise<void>;
  readlink?(path: string, caller: Caller): MaybePromise<string>;

  opendir?(path: string, flags: number, caller: Caller): MaybePromise<OpenReply>;
  readdir?(path: string, fh: number | undefined, caller: Caller): MaybePromise<readonly DirEntry[]>;
  releasedir?(path: string, fh: number | undefined, caller: Caller): MaybePromise<void>;
  fsyncdir?(path: string, fh: number | undefined, datasync: boolean, caller: Caller): MaybePromise<void>;

  mknod?(path: string, mode: number, rdev: number, caller: Caller): MaybePromise<void>;
  mkdir?(path: string, mode: number, caller: Caller): MaybePromise<void>;
  unlink?(path: string, caller: Caller): MaybePromise<void>;
  rmdir?(path: string, caller: Caller): MaybePromise<void>;
  symlink?(target: string, path: string, caller: Caller): MaybePromise<void>;
  /** `flags` are renameat2's RENAME_NOREPLACE / RENAME_EXCHANGE (0 where the engine has none). */
  rename?(from: string, to: string, flags: number, caller: Caller): MaybePromise<void>;
  link?(existing: string, path: string, caller: Caller): MaybePromise<void>;

  chmod?(path: string, mode: number, fh: number | undefined, caller: Caller): MaybePromise<void>;
  /** -1 leaves that id unchanged. */
  chown?(path: string, uid: number, gid: number, fh: number | undefined, caller: Caller): MaybePromise<void>;
  truncate?(path: string, size: number, fh: number | undefined, caller: Caller): MaybePromise<void>;
  utimens?(path: string, atime: TimeUpdate, mtime: TimeUpdate, fh: number | undefined, caller: Caller): MaybePromise<void>;

  open?(path: string, flags: number, caller: Caller): MaybePromise<OpenReply>;
  /** `mode` has the caller's umask applied by the kernel. */
  create?(path: string, mode: number, flags: number, caller: Caller): MaybePromise<OpenReply>;
  /** Fill `buffer` (its length is the request size) from `position`; return the bytes read (0 at EOF). */
  read?(path: string, fh: number, buffer: Buffer, position: number, caller: Caller): MaybePromise<number>;
  /** Return the bytes written: all of them, or the call is an error to the writer. */
  write?(path: string, fh: number, data: Buffer, position: number, caller: Caller): MaybePromise<number>;
  flush?(path: string, fh: number, caller: Caller): MaybePromise<void>;
  release?(path: string, fh: number, caller: Caller): MaybePromise<void>;
  fsync?(path: string, fh: number, datasync: boolean, caller: Caller): MaybePromise<void>;
  /**
   * fallocate(2) on an open file: `mode` 0 (allocate, growing the file), FALLOC_FL_KEEP_SIZE (1),
   * PUNCH_HOLE (2, always with KEEP_SIZE), ZERO_RANGE (0x10), … Throw EOPNOTSUPP for a mode
   * the filesystem cannot honour; left out, every fallocate gets EOPNOTSUPP.
   */
  fallocate?(path: string, fh: number, mode: number, offset: number, length: number, caller: Caller): MaybePromise<void>;

  statfs?(path: string, caller: Caller): MaybePromise<StatFs>;

  /** `flags` are XATTR_CREATE / XATTR_REPLACE. */
  setxattr?(path: string, name: string, value: Buffer, flags: number, caller: Caller): MaybePromise<void>;
  /** The value; throw ENODATA when the attribute is absent. The engine handles size probing. */
  getxattr?(path: string, name: string, caller: Caller): MaybePromise<Buffer>;
  listxattr?(path: string, caller: Caller): MaybePromise<readonly string[]>;
  removexattr?(path: string, name: string, caller: Caller): MaybePromise<void>;
}

export type OperationName = Exclude<keyof FileSystem, 'init' | 'destroy'>;
