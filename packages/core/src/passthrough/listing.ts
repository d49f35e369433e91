import * as fs from 'node:fs';
import { SysError } from '../errors/index.js';
import type { DirEntry } from '../fuse/types.js';
import { attrFromStats } from './attributes.js';
import { ATTR_BYTES, RECORD_HEADER, decodeAttr, nativeFunctions } from './native.js';

/** Grown (never shrunk) until the largest listing seen fits; reused by every call. */
let records = Buffer.allocUnsafe(256 * 1024);
const ERANGE = 34;

/** Whether listings come from the native lister (for tests and kmx doctor). */
export function nativeListing(): boolean {
  return nativeFunctions() !== null;
}

/**
 * The entries of directory `dir` (without . and ..) with their lstat attributes, natively in
 * one call where kmx-dirlist is built: a hundred entries in less than half the time of
 * readdirSync and a BigInt lstatSync per entry (each of those walks the whole path again).
 * An entry that vanished meanwhile comes without attributes, as readdir(3) would list it.
 * Throws a SysError (syscall scandir, as Node's readdirSync) when the directory cannot be read.
 */
export function listDirectory(dir: string): DirEntry[] {
  const native = nativeFunctions();
  if (native === null) return listWithNodeFs(dir);
  for (;;) {
    const used = Number(native.listDir(dir, records, records.length));
    if (used === -ERANGE) {
      records = Buffer.allocUnsafe(records.length * 2);
      continue;
    }
    if (used < 0) throw new SysError(-used, 'scandir', dir);
    return decode(records, used);
  }
}

/** The same listing through Node's fs: the fallback, and the reference the tests compare with. */
export function listWithNodeFs(dir: string): DirEntry[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return fs.readdirSync(dir).map((name) => {
    try {
      return { name, attr: attrFromStats(fs.lstatSync(prefix + name, { bigint: true })) };
    } catch {
      return { name };
    }
  });
}

function decode(buf: Buffer, used: number): DirEntry[] {
  const entries: DirEntry[] = [];
  for (let at = 0; at < used;) {
    const nameLength = buf.readUInt16LE(at + ATTR_BYTES);
    const name = buf.toString('utf8', at + RECORD_HEADER, at + RECORD_HEADER + nameLength);
    entries.push(buf[at + ATTR_BYTES + 2] === 0 ? { name } : { name, attr: decodeAttr(buf, at) });
    at += (RECORD_HEADER + nameLength + 7) & ~7;
  }
  return entries;
}
