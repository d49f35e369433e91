import * as fs from 'node:fs';
import { SysError, libc } from '@kmx/core';
import type { InputAttributes } from 'ssh2';
import { KMX_POSIX, decodeTimes, encodeAttrs, encodeRecord, kmxPair, sshString, u32, v3Seconds, type WireAttrs } from '../protocol/kmx-posix.js';
import { fchmodat2, fchownat } from './fd-calls.js';

type Timespec = libc.Timespec;

const NS = 1_000_000_000n;

/** Whole seconds of a time in nanoseconds (toward minus infinity, as a timespec's). */
function secondsOf(ns: bigint): number {
  const sec = ns / NS;
  return Number(ns < 0n && sec * NS !== ns ? sec - 1n : sec);
}

/** SFTP v3 attributes of a stat (taken with { bigint: true }), and kmx's STAT RECORD when `record`. */
export function attrsOf(st: fs.BigIntStats, record = false): WireAttrs {
  return {
    mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size),
    atime: v3Seconds(secondsOf(st.atimeNs)), mtime: v3Seconds(secondsOf(st.mtimeNs)),
    extended: record ? [[KMX_POSIX, encodeRecord(st)]] : undefined,
  };
}

/** An SSH_FXP_ATTRS packet (ssh2's server writes no extended pairs). */
export function attrsPacket(id: number, attrs: WireAttrs): Buffer {
  return packet(SSH_FXP_ATTRS, id, [encodeAttrs(attrs)]);
}

/** An SSH_FXP_NAME packet of names with their longnames and attributes. */
export function namePacket(id: number, entries: ReadonlyArray<{ filename: string; longname: string; attrs: WireAttrs }>): Buffer {
  const parts: Buffer[] = [u32(entries.length)];
  for (const e of entries) parts.push(sshString(e.filename), sshString(e.longname), encodeAttrs(e.attrs));
  return packet(SSH_FXP_NAME, id, parts);
}

const SSH_FXP_NAME = 104;
const SSH_FXP_ATTRS = 105;

function packet(type: number, id: number, body: Buffer[]): Buffer {
  const head = Buffer.allocUnsafe(9);
  const length = body.reduce((n, b) => n + b.length, 0);
  head.writeUInt32BE(5 + length, 0);
  head[4] = type;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, ...body]);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function modeString(mode: number): string {
  const type = { 0o040000: 'd', 0o120000: 'l', 0o010000: 'p', 0o140000: 's', 0o020000: 'c', 0o060000: 'b' }[mode & 0o170000] ?? '-';
  const bit = (mask: number, ch: string): string => (mode & mask ? ch : '-');
  let s = type + bit(0o400, 'r') + bit(0o200, 'w') + bit(0o100, 'x') + bit(0o40, 'r') + bit(0o20, 'w') + bit(0o10, 'x') + bit(0o4, 'r') + bit(0o2, 'w') + bit(0o1, 'x');
  const chars = s.split('');
  if (mode & 0o4000) chars[3] = mode & 0o100 ? 's' : 'S';
  if (mode & 0o2000) chars[6] = mode & 0o10 ? 's' : 'S';
  if (mode & 0o1000) chars[9] = mode & 0o1 ? 't' : 'T';
  s = chars.join('');
  return s;
}

/** The `ls -l` line SFTP v3 sends with each name (what `sftp`'s ls -l prints). */
export function longname(name: string, st: fs.BigIntStats): string {
  const date = st.mtime;
  const recent = Math.abs(Date.now() - date.getTime()) < 180 * 24 * 3600 * 1000;
  const when = `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2)} ${recent ? `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}` : ` ${date.getFullYear()}`}`;
  return `${modeString(Number(st.mode))} ${String(st.nlink).padStart(4)} ${String(st.uid).padEnd(8)} ${String(st.gid).padEnd(8)} ${String(st.size).padStart(8)} ${when} ${name}`;
}

const { AT_EMPTY_PATH } = libc;

/** Refuses a size for anything but a regular file (a symlink's size is its target's text: never cut through it). */
export function checkSizable(st: fs.Stats | fs.BigIntStats, path?: string): void {
  if (st.isFile()) return;
  throw SysError.of(st.isSymbolicLink() ? 'ELOOP' : st.isDirectory() ? 'EISDIR' : 'EINVAL', 'truncate', path);
}

function seconds(time: number | string | Date): Timespec {
  const value = time instanceof Date ? time.getTime() / 1000 : Number(time);
  const sec = Math.floor(value);
  return { sec, nsec: Math.round((value - sec) * 1e9) };
}

/**
 * Applies SETSTAT/FSETSTAT/lsetstat attributes to the file `fd` refers to, in the order
 * sftp-server uses: size, owner, mode, times. Only the fd is used, never a path: owner, mode
 * and times through AT_EMPTY_PATH (so an O_PATH fd will do, of a symlink too: then the link's
 * own owner and times change, and a mode, which Linux symlinks do not have, is left alone).
 * A size needs an fd open for writing, of a regular file; anything else is refused before
 * anything is changed. Times come from kmx's pair when the attributes carry one (nanoseconds,
 * 64-bit seconds, UTIME_NOW/UTIME_OMIT), else from SFTP v3's seconds.
 */
export function applyAttrs(fd: number, attrs: InputAttributes): void {
  const st = fs.fstatSync(fd);
  if (attrs.size !== undefined) {
    checkSizable(st);
    fs.ftruncateSync(fd, Number(attrs.size));
  }
  if (attrs.uid !== undefined && attrs.gid !== undefined) fchownat(fd, '', attrs.uid, attrs.gid, AT_EMPTY_PATH);
  if (attrs.mode !== undefined && !st.isSymbolicLink()) fchmodat2(fd, '', Number(attrs.mode) & 0o7777, AT_EMPTY_PATH);
  const pair = kmxPair(attrs);
  const times = pair ? decodeTimes(pair) : undefined;
  if (pair && !times) throw SysError.of('EINVAL', 'setstat', undefined, { detail: `a malformed ${KMX_POSIX} pair` });
  if (times) libc.utimensat(fd, '', checkedTime(times[0]), checkedTime(times[1]), AT_EMPTY_PATH);
  else if (attrs.atime !== undefined && attrs.mtime !== undefined) libc.utimensat(fd, '', seconds(attrs.atime), seconds(attrs.mtime), AT_EMPTY_PATH);
}

/** A time from the wire: nanoseconds below a second, or UTIME_NOW/UTIME_OMIT; else EINVAL (as utimensat's). */
function checkedTime(t: Timespec): Timespec {
  if (t.nsec < 1_000_000_000 || t.nsec === libc.UTIME_NOW || t.nsec === libc.UTIME_OMIT) return t;
  throw SysError.of('EINVAL', 'setstat', undefined, { detail: 'nanoseconds out of range' });
}

/** Parses the ATTRS of an extended request (lsetstat@openssh.com) at `offset`. */
export function parseAttrs(data: Buffer, offset: number): InputAttributes {
  let p = offset;
  const u32 = (): number => {
    const v = data.readUInt32BE(p);
    p += 4;
    return v;
  };
  const flags = u32();
  const attrs: InputAttributes = {};
  if (flags & 0x1) {
    attrs.size = Number(data.readBigUInt64BE(p));
    p += 8;
  }
  if (flags & 0x2) {
    attrs.uid = u32();
    attrs.gid = u32();
  }
  if (flags & 0x4) attrs.mode = u32();
  if (flags & 0x8) {
    attrs.atime = u32();
    attrs.mtime = u32();
  }
  if (flags & 0x80000000) {
    // Extended pairs: kmx's is kept (ssh2's parser does the same for SETSTAT and FSETSTAT).
    const count = u32();
    const extended: Record<string, Buffer> = {};
    for (let i = 0; i < count; i++) {
      const type = data.subarray(p + 4, p + 4 + data.readUInt32BE(p));
      p += 4 + type.length;
      const value = data.subarray(p + 4, p + 4 + data.readUInt32BE(p));
      p += 4 + value.length;
      extended[type.toString()] = value;
    }
    Object.assign(attrs, { extended });
  }
  return attrs;
}
