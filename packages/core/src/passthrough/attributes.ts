import * as fs from 'node:fs';
import { SysError } from '../errors/index.js';
import type { Timespec } from '../libc/files.js';
import type { Attr } from '../fuse/types.js';
import { ATTR_BYTES, decodeAttr, nativeFunctions } from './native.js';

const NS_PER_SEC = 1_000_000_000n;

function timespec(ns: bigint): Timespec {
  const sec = ns / NS_PER_SEC;
  const nsec = ns % NS_PER_SEC;
  // BigInt division truncates toward zero; timespec wants nsec in [0, 1e9).
  if (nsec < 0n) return { sec: Number(sec - 1n), nsec: Number(nsec + NS_PER_SEC) };
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** A FUSE Attr from a Node stat taken with { bigint: true } (the only form with nanoseconds). */
export function attrFromStats(st: fs.BigIntStats): Attr {
  return {
    mode: Number(st.mode),
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    ino: Number(st.ino),
    rdev: Number(st.rdev),
    blksize: Number(st.blksize),
    blocks: Number(st.blocks),
    atime: timespec(st.atimeNs),
    mtime: timespec(st.mtimeNs),
    ctime: timespec(st.ctimeNs),
  };
}

/** One record, reused by every call (the engine serves one request at a time). */
const record = Buffer.allocUnsafe(ATTR_BYTES);

/**
 * The lstat attributes of `path`: through kmx-dirlist where it is built, 1.7 µs less per call
 * than a BigInt lstatSync and attrFromStats here (3.2 against 4.9 µs), on every LOOKUP and
 * GETATTR. Throws a SysError (syscall lstat) as Node's would.
 */
export function lstatAttr(path: string): Attr {
  const native = nativeFunctions();
  if (native === null) return attrFromStats(fs.lstatSync(path, { bigint: true }));
  const result = Number(native.lstat(path, record));
  if (result < 0) throw new SysError(-result, 'lstat', path);
  return decodeAttr(record, 0);
}

/** The attributes of the open file `fd`, as lstatAttr's. */
export function fstatAttr(fd: number): Attr {
  const native = nativeFunctions();
  if (native === null) return attrFromStats(fs.fstatSync(fd, { bigint: true }));
  const result = Number(native.fstat(fd, record));
  if (result < 0) throw new SysError(-result, 'fstat');
  return decodeAttr(record, 0);
}
