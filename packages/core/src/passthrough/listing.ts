import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SysError } from '../errors/index.js';
import { koffi, type CFunction } from '../libc/library.js';
import type { Attr, DirEntry } from '../fuse/types.js';
import { attrFromStats } from './attributes.js';

/**
 * kmx's directory lister (packages/core/native/kmx-dirlist.c), built by `npm run build` next
 * to this file's dist/src/passthrough; $KMX_DIRLIST_LIBRARY names another, and an empty or
 * missing one means Node's fs. One native call lists a directory and lstats every entry
 * relative to it: a hundred entries in less than half the time of readdirSync and a BigInt
 * lstatSync per entry (each of those walks the whole path again).
 */
const LIBRARY = process.env.KMX_DIRLIST_LIBRARY ?? fileURLToPath(new URL('../../native/libkmx-dirlist.so', import.meta.url));
const ERANGE = 34;
/** The record layout of kmx-dirlist.c. */
const HEADER = 92;

let listNative: CFunction | null | undefined;
/** Grown (never shrunk) until the largest listing seen fits; reused by every call. */
let records = Buffer.allocUnsafe(256 * 1024);

function nativeLister(): CFunction | null {
  if (listNative !== undefined) return listNative;
  listNative = null;
  if (LIBRARY !== '' && fs.existsSync(LIBRARY)) {
    try {
      listNative = koffi().load(LIBRARY).func('int64_t kmx_list_dir(const char *path, void *out, uint64_t cap)');
    } catch {
      // A library that does not load: Node's fs does the same, slower.
    }
  }
  return listNative;
}

/** Whether listings come from the native lister (for tests and kmx doctor). */
export function nativeListing(): boolean {
  return nativeLister() !== null;
}

/**
 * The entries of directory `dir` (without . and ..) with their lstat attributes; an entry
 * that vanished meanwhile comes without attributes, as readdir(3) would list it. Throws a
 * SysError (syscall scandir, as Node's readdirSync) when the directory cannot be read.
 */
export function listDirectory(dir: string): DirEntry[] {
  const list = nativeLister();
  if (list === null) return listWithNodeFs(dir);
  for (;;) {
    const used = Number(list(dir, records, records.length));
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

/** 64-bit little-endian fields as Numbers (exact below 2^53, as Number(bigint) is). */
function int64(buf: Buffer, at: number): number {
  return buf.readInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);
}
function uint64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);
}

function decode(buf: Buffer, used: number): DirEntry[] {
  const entries: DirEntry[] = [];
  for (let at = 0; at < used;) {
    const nameLength = buf.readUInt16LE(at + 88);
    const name = buf.toString('utf8', at + HEADER, at + HEADER + nameLength);
    if (buf[at + 90] === 0) {
      entries.push({ name });
    } else {
      // The key order of attrFromStats: one object shape for the engine's encoder.
      const attr: Attr = {
        mode: buf.readUInt32LE(at + 68),
        nlink: buf.readUInt32LE(at + 72),
        uid: buf.readUInt32LE(at + 76),
        gid: buf.readUInt32LE(at + 80),
        size: int64(buf, at + 8),
        ino: uint64(buf, at),
        rdev: uint64(buf, at + 24),
        blksize: buf.readUInt32LE(at + 84),
        blocks: int64(buf, at + 16),
        atime: { sec: int64(buf, at + 32), nsec: buf.readUInt32LE(at + 56) },
        mtime: { sec: int64(buf, at + 40), nsec: buf.readUInt32LE(at + 60) },
        ctime: { sec: int64(buf, at + 48), nsec: buf.readUInt32LE(at + 64) },
      };
      entries.push({ name, attr });
    }
    at += (HEADER + nameLength + 7) & ~7;
  }
  return entries;
}
