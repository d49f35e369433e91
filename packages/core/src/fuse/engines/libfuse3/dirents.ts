import type { Attr } from '../../types.js';
import { put64 } from './layout.js';

/**
 * The reply bodies of READDIR and READDIRPLUS, written directly in the kernel's format
 * (linux/fuse.h): a stream of `struct fuse_dirent` (ino, off, namelen, type, name padded to
 * 8 bytes), each preceded by a 128-byte `struct fuse_entry_out` for READDIRPLUS. `off` is the
 * cookie the kernel sends back to continue after an entry: kmx uses the entry's index, which
 * stays valid when the kernel mixes READDIR and READDIRPLUS pages on one directory.
 */

const DIRENT_HEADER = 24;
const ENTRY_OUT_SIZE = 128;
/** The inode number readdir reports when it has none: 0 would make readdir(3) skip the entry. */
export const UNKNOWN_INO = 0xffffffff;

const align8 = (n: number): number => (n + 7) & ~7;

/** d_type from st_mode (DT_UNKNOWN when the mode is unknown). */
export function direntType(mode: number | undefined): number {
  return mode === undefined ? 0 : (mode >>> 12) & 0xf;
}

/** A timeout in seconds as the kernel's (seconds, nanoseconds) pair. */
export function splitTimeout(seconds: number): [number, number] {
  const sec = Math.floor(seconds);
  return [sec, Math.min(999_999_999, Math.round((seconds - sec) * 1e9))];
}

export interface PlusEntry {
  nodeid: number;
  /** st_ino as reported to users. */
  ino: number;
  attr: Attr;
}

/** Fills one reply buffer, entry by entry, until the next one would not fit. */
export class DirentWriter {
  private readonly entryValid: [number, number];
  private readonly attrValid: [number, number];
  private ab = new ArrayBuffer(4096);
  private buffer = Buffer.from(this.ab);
  private u32 = new Uint32Array(this.ab);
  private used = 0;
  private limit = 0;

  /** The cache timeouts READDIRPLUS entries carry, in seconds. */
  constructor(timeouts: { entry: number; attr: number } = { entry: 0, attr: 0 }) {
    this.entryValid = splitTimeout(timeouts.entry);
    this.attrValid = splitTimeout(timeouts.attr);
  }

  /** Starts a reply of at most `size` bytes. */
  reset(size: number): void {
    if (size > this.ab.byteLength) {
      this.ab = new ArrayBuffer(align8(size));
      this.buffer = Buffer.from(this.ab);
      this.u32 = new Uint32Array(this.ab);
    }
    this.used = 0;
    this.limit = size;
  }

  /** The reply so far. */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.used);
  }

  /** Appends a READDIR entry; false when it does not fit. */
  add(name: string, ino: number, type: number, off: number): boolean {
    const nameLength = Buffer.byteLength(name);
    const size = align8(DIRENT_HEADER + nameLength);
    if (this.used + size > this.limit) return false;
    this.writeDirent(this.used, name, nameLength, size, ino, type, off);
    this.used += size;
    return true;
  }

  /** Whether a READDIRPLUS entry of this name still fits. */
  fitsPlus(name: string): boolean {
    return this.used + ENTRY_OUT_SIZE + align8(DIRENT_HEADER + Buffer.byteLength(name)) <= this.limit;
  }

  /** Appends a READDIRPLUS entry; `plus` undefined sends no attributes (the kernel looks it up later). */
  addPlus(name: string, ino: number, type: number, off: number, plus: PlusEntry | undefined): boolean {
    const nameLength = Buffer.byteLength(name);
    const direntSize = align8(DIRENT_HEADER + nameLength);
    if (this.used + ENTRY_OUT_SIZE + direntSize > this.limit) return false;
    const u32 = this.u32;
    const base = this.used >>> 2;
    if (plus) {
      // struct fuse_entry_out, every field written (the buffer is reused).
      const a = plus.attr;
      put64(u32, base, plus.nodeid);
      u32[base + 2] = 0; // generation: node ids are never reused
      u32[base + 3] = 0;
      put64(u32, base + 4, this.entryValid[0]);
      put64(u32, base + 6, this.attrValid[0]);
      u32[base + 8] = this.entryValid[1];
      u32[base + 9] = this.attrValid[1];
      put64(u32, base + 10, plus.ino);
      put64(u32, base + 12, a.size);
      put64(u32, base + 14, a.blocks ?? Math.ceil(a.size / 512));
      put64(u32, base + 16, a.atime.sec);
      put64(u32, base + 18, a.mtime.sec);
      put64(u32, base + 20, a.ctime.sec);
      u32[base + 22] = a.atime.nsec;
      u32[base + 23] = a.mtime.nsec;
      u32[base + 24] = a.ctime.nsec;
      u32[base + 25] = a.mode;
      u32[base + 26] = a.nlink;
      u32[base + 27] = a.uid;
      u32[base + 28] = a.gid;
      u32[base + 29] = a.rdev ?? 0;
      u32[base + 30] = a.blksize ?? 4096;
      u32[base + 31] = 0;
    } else {
      u32.fill(0, base, base + ENTRY_OUT_SIZE / 4); // node id 0: no attributes, the kernel looks it up
    }
    this.writeDirent(this.used + ENTRY_OUT_SIZE, name, nameLength, direntSize, ino, type, off);
    this.used += ENTRY_OUT_SIZE + direntSize;
    return true;
  }

  private writeDirent(at: number, name: string, nameLength: number, size: number, ino: number, type: number, off: number): void {
    const base = at >>> 2;
    put64(this.u32, base, ino);
    put64(this.u32, base + 2, off);
    this.u32[base + 4] = nameLength;
    this.u32[base + 5] = type;
    this.buffer.write(name, at + DIRENT_HEADER, nameLength, 'utf8');
    for (let i = at + DIRENT_HEADER + nameLength; i < at + size; i++) this.buffer[i] = 0; // padding
  }
}
