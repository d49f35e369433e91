import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { koffi, type CFunction } from '../libc/library.js';
import type { Attr } from '../fuse/types.js';

/**
 * kmx's native lister and stat (packages/core/native/kmx-dirlist.c), built by `npm run build`
 * next to this file's dist/src/passthrough; $KMX_DIRLIST_LIBRARY names another, and an empty
 * or missing one means Node's fs, which does the same, slower.
 */
const LIBRARY = process.env.KMX_DIRLIST_LIBRARY ?? fileURLToPath(new URL('../../native/libkmx-dirlist.so', import.meta.url));

export interface NativeFunctions {
  /** (path, out, cap) → bytes of records written, -ERANGE, or -errno. */
  listDir: CFunction;
  /** (path, out) → 0 or -errno; one record's attributes in `out`. */
  lstat: CFunction;
  /** (fd, out) → 0 or -errno. */
  fstat: CFunction;
}

let loaded: NativeFunctions | null | undefined;

/** The library's functions, or null where it is not built or does not load. */
export function nativeFunctions(): NativeFunctions | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (LIBRARY !== '' && fs.existsSync(LIBRARY)) {
    try {
      const lib = koffi().load(LIBRARY);
      loaded = {
        listDir: lib.func('int64_t kmx_list_dir(const char *path, void *out, uint64_t cap)'),
        lstat: lib.func('int kmx_lstat(const char *path, void *out)'),
        fstat: lib.func('int kmx_fstat(int fd, void *out)'),
      };
    } catch {
      // A library that does not load (an older build without a function, say): Node's fs.
    }
  }
  return loaded;
}

/** Bytes of a record before its name; a record's attributes take the first 88. */
export const RECORD_HEADER = 92;
export const ATTR_BYTES = 88;

/** 64-bit little-endian fields as Numbers (exact below 2^53, as Number(bigint) is). */
function int64(buf: Buffer, at: number): number {
  return buf.readInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);
}
function uint64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);
}

/** The attributes of the record at `at` (the layout in kmx-dirlist.c). */
export function decodeAttr(buf: Buffer, at: number): Attr {
  // The key order of attrFromStats: one object shape for the engine's encoder.
  return {
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
}
