import * as fs from 'node:fs';
import { SysError, attrFromStats, type Attr, type DirEntry } from '@kmx/core';
import { readFdRange } from './read-range.js';

/** Larger than any /proc text file a tool reads whole; binary ones (kcore) are read by range. */
export const WHOLE_FILE_LIMIT = 8 * 1024 * 1024;

/**
 * One host's /proc read in place, synchronously: /proc answers in microseconds, and a reply
 * given inside the FUSE callback is the engine's fast path (an event-loop turn costs more
 * than the read itself). Paths are the view's ('/', '/1/stat'); errors are Node's fs errors,
 * which carry their errno.
 */
export class LocalProc {
  constructor(readonly root = '/proc') {}

  real(path: string): string {
    return path === '/' ? this.root : this.root + path;
  }

  lstat(path: string): Attr {
    return attrFromStats(fs.lstatSync(this.real(path), { bigint: true }));
  }

  /** stat, following a symbolic link (`net` seen as the directory it leads to). */
  stat(path: string): Attr {
    return attrFromStats(fs.statSync(this.real(path), { bigint: true }));
  }

  /** A directory's entries with their attributes; entries gone in between (a process exited) are left out. */
  list(path: string): DirEntry[] {
    const dir = this.real(path);
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    const entries: DirEntry[] = [];
    for (const name of this.names(path)) {
      const st = fs.lstatSync(prefix + name, { bigint: true, throwIfNoEntry: false });
      if (st) entries.push({ name, attr: attrFromStats(st) });
    }
    return entries;
  }

  /** Entry names in the kernel's order (pids ascending), which `ps` shows; readdirSync would sort them as text. */
  names(path: string): string[] {
    const dir = fs.opendirSync(this.real(path), { bufferSize: 256 });
    const names: string[] = [];
    try {
      for (let entry = dir.readSync(); entry; entry = dir.readSync()) names.push(entry.name);
    } finally {
      dir.closeSync();
    }
    return names;
  }

  readlink(path: string): string {
    return fs.readlinkSync(this.real(path));
  }

  open(path: string, flags: number): number {
    return fs.openSync(this.real(path), flags);
  }

  /** Reads a whole file (up to `limit` bytes) the way `cat` does: until a read returns 0. */
  readFile(path: string, limit = WHOLE_FILE_LIMIT): Buffer {
    const fd = fs.openSync(this.real(path), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      return readFd(fd, limit, path);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Up to `length` bytes from `offset`, and whether the file ended there (read in growing chunks). */
  readRange(path: string, offset: number, length: number): { data: Buffer; eof: boolean } {
    const fd = fs.openSync(this.real(path), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      return readFdRange(fd, offset, length);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Writes `data` at `offset` (a /proc/sys setting); returns the bytes written. */
  writeFile(path: string, offset: number, data: Buffer): number {
    const fd = fs.openSync(this.real(path), fs.constants.O_WRONLY);
    try {
      return fs.writeSync(fd, data, 0, data.length, offset);
    } finally {
      fs.closeSync(fd);
    }
  }
}

function readFd(fd: number, limit: number, path: string): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  let chunk = Buffer.allocUnsafe(16384);
  while (true) {
    const n = fs.readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    total += n;
    if (total > limit) throw SysError.of('EFBIG', 'read', path, { detail: `more than ${limit} bytes` });
    if (n === chunk.length) chunk = Buffer.allocUnsafe(Math.min(chunk.length * 2, 1 << 20));
    else chunk = chunk.subarray(n);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
