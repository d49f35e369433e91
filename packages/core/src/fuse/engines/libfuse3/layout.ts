import { arch } from 'node:os';
import type { Attr, StatFs } from '../../types.js';

/**
 * The C structs the engine reads and writes, as offsets checked with offsetof against
 * libfuse 3.14 and glibc (x86-64; arm64 from glibc's generic struct stat). Everything is
 * little-endian. 64-bit fields are written as two 32-bit halves, which is exact for every
 * integer a JS number holds, negative ones included (two's complement).
 */

const TWO32 = 4294967296;

/** Writes a 64-bit integer at u32 index `i`. */
export function put64(u32: Uint32Array, i: number, value: number): void {
  u32[i] = value; // ToUint32: value mod 2^32, right for negative values too
  u32[i + 1] = Math.floor(value / TWO32);
}

export function get64(u32: Uint32Array, i: number): number {
  return (u32[i] ?? 0) + (u32[i + 1] ?? 0) * TWO32;
}

/** A signed 64-bit integer (time_t). */
export function getSigned64(u32: Uint32Array, i: number): number {
  return (u32[i] ?? 0) + ((u32[i + 1] ?? 0) | 0) * TWO32;
}

/** A zeroed, 8-byte aligned scratch area with the views the encoders use. */
export interface Scratch {
  readonly buffer: Buffer;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
}

export function scratch(size: number): Scratch {
  const ab = new ArrayBuffer(size);
  return { buffer: Buffer.from(ab), u32: new Uint32Array(ab), f64: new Float64Array(ab) };
}

/** struct stat, in u32 indexes. */
interface StatLayout {
  size: number;
  ino: number;
  nlink: number;
  nlinkIs64: boolean;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  size64: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

const X64_STAT: StatLayout = { size: 144, ino: 2, nlink: 4, nlinkIs64: true, mode: 6, uid: 7, gid: 8, rdev: 10, size64: 12, blksize: 14, blocks: 16, atime: 18, mtime: 22, ctime: 26 };
const ARM64_STAT: StatLayout = { size: 128, ino: 2, nlink: 5, nlinkIs64: false, mode: 4, uid: 6, gid: 7, rdev: 8, size64: 12, blksize: 14, blocks: 16, atime: 18, mtime: 22, ctime: 26 };

export const STAT = arch() === 'arm64' ? ARM64_STAT : X64_STAT;
export const STAT_SIZE = STAT.size;

/** Fills a struct stat at u32 index `base` (zeroes left by the caller stay zero). */
export function writeStat(u32: Uint32Array, base: number, attr: Attr, ino: number): void {
  const s = STAT;
  put64(u32, base + s.ino, ino);
  if (s.nlinkIs64) put64(u32, base + s.nlink, attr.nlink);
  else u32[base + s.nlink] = attr.nlink;
  u32[base + s.mode] = attr.mode;
  u32[base + s.uid] = attr.uid;
  u32[base + s.gid] = attr.gid;
  put64(u32, base + s.rdev, attr.rdev ?? 0);
  put64(u32, base + s.size64, attr.size);
  put64(u32, base + s.blksize, attr.blksize ?? 4096);
  put64(u32, base + s.blocks, attr.blocks ?? Math.ceil(attr.size / 512));
  put64(u32, base + s.atime, attr.atime.sec);
  put64(u32, base + s.atime + 2, attr.atime.nsec);
  put64(u32, base + s.mtime, attr.mtime.sec);
  put64(u32, base + s.mtime + 2, attr.mtime.nsec);
  put64(u32, base + s.ctime, attr.ctime.sec);
  put64(u32, base + s.ctime + 2, attr.ctime.nsec);
}

/** The fields of setattr's struct stat that FUSE_SET_ATTR_* can name. */
export interface SetattrValues {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atime: { sec: number; nsec: number };
  mtime: { sec: number; nsec: number };
}

export function readSetattr(u32: Uint32Array): SetattrValues {
  const s = STAT;
  return {
    mode: u32[s.mode] ?? 0,
    uid: u32[s.uid] ?? 0,
    gid: u32[s.gid] ?? 0,
    size: get64(u32, s.size64),
    atime: { sec: getSigned64(u32, s.atime), nsec: u32[s.atime + 2] ?? 0 },
    mtime: { sec: getSigned64(u32, s.mtime), nsec: u32[s.mtime + 2] ?? 0 },
  };
}

/** struct fuse_entry_param: ino, generation, struct stat, attr_timeout, entry_timeout. */
export const ENTRY_PARAM_SIZE = 176;
export const ENTRY_STAT_BASE = 4; // u32 index of attr
export const ENTRY_ATTR_TIMEOUT = 20; // f64 index
export const ENTRY_ENTRY_TIMEOUT = 21;

/** struct fuse_file_info (3.10–3.16: 40 bytes; 64 reserved so that a reply never reads past it). */
export const FILE_INFO_SIZE = 64;
export const FI_FLAGS = 0; // int32 open flags, u32 index
export const FI_BITS = 1; // the bitfield word
export const FI_FH = 4; // u32 index of uint64 fh
export const FI_DIRECT_IO = 0x2;
export const FI_KEEP_CACHE = 0x4;
export const FI_NONSEEKABLE = 0x10;
export const FI_CACHE_READDIR = 0x40;

/** struct fuse_conn_info, byte offsets (uint32 fields). */
export const CONN = { maxWrite: 8, maxRead: 12, maxReadahead: 16, capable: 20, want: 24, maxBackground: 28, congestionThreshold: 32, timeGran: 36 } as const;

export const CAP_ASYNC_READ = 1 << 0;
export const CAP_ATOMIC_O_TRUNC = 1 << 3;
export const CAP_AUTO_INVAL_DATA = 1 << 12;
export const CAP_READDIRPLUS = 1 << 13;
export const CAP_READDIRPLUS_AUTO = 1 << 14;
export const CAP_WRITEBACK_CACHE = 1 << 16;
export const CAP_HANDLE_KILLPRIV = 1 << 20;

/** struct fuse_buf: 40 bytes, `mem` at 16. */
export const FUSE_BUF_SIZE = 40;
export const FUSE_BUF_MEM = 16;

/** struct fuse_args: int argc; char **argv; int allocated. */
export const FUSE_ARGS_SIZE = 24;
export const FUSE_ARGS_ARGV = 8;

/** The lowlevel ops table: 44 function pointers in header order. */
export const OPS_COUNT = 44;
export const OPS_SIZE = OPS_COUNT * 8;
export const OP_INDEX = {
  init: 0, destroy: 1, lookup: 2, forget: 3, getattr: 4, setattr: 5, readlink: 6, mknod: 7, mkdir: 8, unlink: 9,
  rmdir: 10, symlink: 11, rename: 12, link: 13, open: 14, read: 15, write: 16, flush: 17, release: 18, fsync: 19,
  opendir: 20, readdir: 21, releasedir: 22, fsyncdir: 23, statfs: 24, setxattr: 25, getxattr: 26, listxattr: 27,
  removexattr: 28, access: 29, create: 30, getlk: 31, setlk: 32, bmap: 33, ioctl: 34, poll: 35, write_buf: 36,
  retrieve_reply: 37, forget_multi: 38, flock: 39, fallocate: 40, readdirplus: 41, copy_file_range: 42, lseek: 43,
} as const;
export type LowlevelOp = keyof typeof OP_INDEX;

/** FUSE_SET_ATTR_* bits of setattr's to_set. */
export const SET_ATTR = { mode: 1 << 0, uid: 1 << 1, gid: 1 << 2, size: 1 << 3, atime: 1 << 4, mtime: 1 << 5, atimeNow: 1 << 7, mtimeNow: 1 << 8 } as const;

/** struct statvfs: eleven unsigned longs (x86-64 and arm64 alike). */
export const STATVFS_SIZE = 112;

export function writeStatvfs(u32: Uint32Array, s: StatFs): void {
  u32.fill(0);
  const fields = [s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail ?? s.ffree, 0, 0, s.namemax];
  fields.forEach((value, i) => put64(u32, i * 2, value));
}

/** struct fuse_ctx: uid, gid, pid, umask (4 × 32 bits). */
export const CTX_SIZE = 16;

/** struct fuse_forget_data: ino, nlookup (2 × 64 bits). */
export const FORGET_DATA_SIZE = 16;
