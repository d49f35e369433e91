import type { BigIntStats } from 'node:fs';
import { libc } from '@kmx/core';

/**
 * kmx's SFTP extension for what SFTP v3 cannot say, used when both ends are kmx (docs/sftp.md,
 * "Both ends kmx"). The server announces it in VERSION (`kmx-posix@kmx.invalid` "1"); a
 * client that knows it turns it on, and other clients and servers never see it:
 *
 * - EXTENDED `kmx-posix@kmx.invalid`, string "enable", uint32 version (1): from the STATUS OK on,
 *   every ATTRS the server sends (ATTRS replies, each entry of a NAME reply to READDIR) carries
 *   the flag SSH_FILEXFER_ATTR_EXTENDED with the pair (`kmx-posix@kmx.invalid`, STAT RECORD).
 * - SETSTAT, FSETSTAT and lsetstat@openssh.com may carry the pair (`kmx-posix@kmx.invalid`,
 *   TIMES): then the times are those (nanoseconds, 64-bit seconds, UTIME_NOW/UTIME_OMIT), and
 *   the v3 atime/mtime are ignored.
 * - EXTENDED `kmx-posix@kmx.invalid`, string "mknod", string path, uint32 mode (with its type),
 *   uint64 rdev: STATUS. FIFOs, sockets and regular files; never device nodes.
 *
 * STAT RECORD: uint64 dev, uint64 ino, uint64 nlink, uint64 rdev, uint64 blocks (512 bytes),
 * uint32 blksize, then atime, mtime, ctime, each int64 seconds and uint32 nanoseconds (80
 * bytes; a reader ignores bytes beyond what it knows). TIMES: atime, then mtime, the same way.
 * All big-endian, as the rest of SFTP.
 */
export const KMX_POSIX = 'kmx-posix@kmx.invalid';
export const KMX_POSIX_VERSION = 1;

export interface Timespec {
  sec: number;
  nsec: number;
}

/** What the STAT RECORD carries. */
export interface StatRecord {
  dev: bigint;
  ino: bigint;
  nlink: number;
  rdev: number;
  blocks: number;
  blksize: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

const RECORD_BYTES = 80;
const TIMES_BYTES = 24;
const NS = 1_000_000_000n;

export const UTIME_NOW = libc.UTIME_NOW;
export const UTIME_OMIT = libc.UTIME_OMIT;

function timespec(ns: bigint): Timespec {
  let sec = ns / NS;
  let nsec = ns % NS;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

function putTime(b: Buffer, p: number, t: Timespec): number {
  b.writeBigInt64BE(BigInt(t.sec), p);
  b.writeUInt32BE(t.nsec, p + 8);
  return p + 12;
}

function getTime(b: Buffer, p: number): Timespec {
  return { sec: Number(b.readBigInt64BE(p)), nsec: b.readUInt32BE(p + 8) };
}

/** The STAT RECORD of a stat taken with { bigint: true }. */
export function encodeRecord(st: BigIntStats): Buffer {
  const b = Buffer.allocUnsafe(RECORD_BYTES);
  b.writeBigUInt64BE(st.dev, 0);
  b.writeBigUInt64BE(st.ino, 8);
  b.writeBigUInt64BE(st.nlink, 16);
  b.writeBigUInt64BE(st.rdev, 24);
  b.writeBigUInt64BE(st.blocks, 32);
  b.writeUInt32BE(Number(st.blksize), 40);
  let p = putTime(b, 44, timespec(st.atimeNs));
  p = putTime(b, p, timespec(st.mtimeNs));
  putTime(b, p, timespec(st.ctimeNs));
  return b;
}

/** A STAT RECORD, or undefined when `data` is too short to be one. */
export function decodeRecord(data: Buffer): StatRecord | undefined {
  if (data.length < RECORD_BYTES) return undefined;
  return {
    dev: data.readBigUInt64BE(0),
    ino: data.readBigUInt64BE(8),
    nlink: Number(data.readBigUInt64BE(16)),
    rdev: Number(data.readBigUInt64BE(24)),
    blocks: Number(data.readBigUInt64BE(32)),
    blksize: data.readUInt32BE(40),
    atime: getTime(data, 44),
    mtime: getTime(data, 56),
    ctime: getTime(data, 68),
  };
}

export function encodeTimes(atime: Timespec, mtime: Timespec): Buffer {
  const b = Buffer.allocUnsafe(TIMES_BYTES);
  putTime(b, putTime(b, 0, atime), mtime);
  return b;
}

export function decodeTimes(data: Buffer): [Timespec, Timespec] | undefined {
  if (data.length < TIMES_BYTES) return undefined;
  return [getTime(data, 0), getTime(data, 12)];
}

/** The pair's data in a parsed ATTRS (ssh2 keeps extended pairs as `extended`), if there is one. */
export function kmxPair(attrs: unknown): Buffer | undefined {
  const extended = (attrs as { extended?: Record<string, unknown> } | undefined)?.extended;
  const data = extended?.[KMX_POSIX];
  return Buffer.isBuffer(data) ? data : undefined;
}

// ---- ATTRS as bytes (ssh2 writes no extended pairs) ----

export const ATTR = { SIZE: 0x1, UIDGID: 0x2, PERMISSIONS: 0x4, ACMODTIME: 0x8, EXTENDED: 0x80000000 } as const;

/** What ATTRS may carry: SFTP v3's fields, and extended pairs. */
export interface WireAttrs {
  size?: number | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  mode?: number | undefined;
  atime?: number | undefined;
  mtime?: number | undefined;
  extended?: ReadonlyArray<[string, Buffer]> | undefined;
}

/** SFTP v3's seconds: an unsigned 32-bit number (what ssh2 and OpenSSH put on the wire for any other). */
export function v3Seconds(sec: number): number {
  return ((Math.trunc(sec) % 2 ** 32) + 2 ** 32) % 2 ** 32;
}

export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function sshString(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  return Buffer.concat([u32(body.length), body]);
}

/** ATTRS on the wire: flags, then the fields the flags name, in SFTP v3's order. */
export function encodeAttrs(a: WireAttrs): Buffer {
  let flags = 0;
  const parts: Buffer[] = [];
  if (a.size !== undefined) {
    flags |= ATTR.SIZE;
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(Math.max(0, Math.trunc(a.size))), 0);
    parts.push(b);
  }
  if (a.uid !== undefined && a.gid !== undefined) {
    flags |= ATTR.UIDGID;
    parts.push(u32(a.uid), u32(a.gid));
  }
  if (a.mode !== undefined) {
    flags |= ATTR.PERMISSIONS;
    parts.push(u32(a.mode));
  }
  if (a.atime !== undefined && a.mtime !== undefined) {
    flags |= ATTR.ACMODTIME;
    parts.push(u32(v3Seconds(a.atime)), u32(v3Seconds(a.mtime)));
  }
  if (a.extended && a.extended.length > 0) {
    flags |= ATTR.EXTENDED;
    parts.push(u32(a.extended.length));
    for (const [type, data] of a.extended) parts.push(sshString(type), sshString(data));
  }
  return Buffer.concat([u32(flags), ...parts]);
}
