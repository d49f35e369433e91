import type * as fs from 'node:fs';
import type { Timespec } from '../libc/files.js';
import type { Attr } from '../fuse/types.js';

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
