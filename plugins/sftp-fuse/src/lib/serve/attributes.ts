import * as fs from 'node:fs';
import type { Attributes, InputAttributes } from 'ssh2';

/** SFTP v3 attributes of a stat. */
export function attrsOf(st: fs.Stats): Attributes {
  return { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000) };
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
export function longname(name: string, st: fs.Stats): string {
  const date = st.mtime;
  const recent = Math.abs(Date.now() - st.mtimeMs) < 180 * 24 * 3600 * 1000;
  const when = `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2)} ${recent ? `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}` : ` ${date.getFullYear()}`}`;
  return `${modeString(st.mode)} ${String(st.nlink).padStart(4)} ${String(st.uid).padEnd(8)} ${String(st.gid).padEnd(8)} ${String(st.size).padStart(8)} ${when} ${name}`;
}

/**
 * Applies SETSTAT/FSETSTAT attributes in the order sftp-server uses: size, owner, mode,
 * times. `path` names the file (a /proc/self/fd path for an fd).
 */
export function applyAttrs(path: string, attrs: InputAttributes, follow = true): void {
  if (attrs.size !== undefined) fs.truncateSync(path, Number(attrs.size));
  if (attrs.uid !== undefined && attrs.gid !== undefined) (follow ? fs.chownSync : fs.lchownSync)(path, attrs.uid, attrs.gid);
  if (attrs.mode !== undefined) {
    const mode = Number(attrs.mode) & 0o7777;
    if (follow) fs.chmodSync(path, mode);
    // Linux has no lchmod: a symlink's own mode cannot change (and means nothing).
  }
  if (attrs.atime !== undefined && attrs.mtime !== undefined) {
    const atime = attrs.atime instanceof Date ? attrs.atime : Number(attrs.atime);
    const mtime = attrs.mtime instanceof Date ? attrs.mtime : Number(attrs.mtime);
    (follow ? fs.utimesSync : fs.lutimesSync)(path, atime, mtime);
  }
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
  return attrs;
}
