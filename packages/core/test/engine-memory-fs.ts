import { SysError, mountFilesystem, type ActiveMount, type Attr, type FileSystem } from '@kmx/core';
import { temporaryDirectory } from '@kmx/core/testing';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FuseOptions } from '@kmx/core';

/**
 * A small in-memory filesystem for engine tests, served in the test's own process: every
 * call is counted, and the mount is driven only from child processes (a synchronous call
 * from this process into its own mount would wait on itself forever).
 */

const now = { sec: 1_700_000_000, nsec: 123_456_789 };

export interface MemoryFile {
  data: Buffer;
  mode: number;
}

export class MemoryFs implements FileSystem {
  readonly files = new Map<string, MemoryFile>();
  readonly dirs = new Map<string, number>([['/', 0o40755]]);
  readonly calls = new Map<string, number>();
  readonly writeSizes: number[] = [];
  readonly openFlags: number[] = [];
  /** Milliseconds each read and write waits before answering (0: answer synchronously). */
  delayMs = 0;
  destroyed = false;
  private nextFh = 1;

  private count(op: string): void {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
  }

  private attr(mode: number, size: number): Attr {
    return { mode, nlink: mode & 0o40000 ? 2 : 1, uid: 0, gid: 0, size, atime: now, mtime: now, ctime: now };
  }

  private later<T>(value: () => T): T | Promise<T> {
    if (this.delayMs === 0) return value();
    return new Promise((resolve, reject) => setTimeout(() => {
      try {
        resolve(value());
      } catch (err) {
        reject(err);
      }
    }, Math.random() * this.delayMs));
  }

  private file(path: string): MemoryFile {
    const file = this.files.get(path);
    if (!file) throw SysError.of('ENOENT', 'open', path);
    return file;
  }

  getattr(path: string): Attr {
    this.count('getattr');
    if (path === '/boom') throw new Error('a bug in the filesystem');
    return this.stat(path);
  }

  private stat(path: string): Attr {
    const dir = this.dirs.get(path);
    if (dir !== undefined) return this.attr(dir, 4096);
    const file = this.file(path);
    return this.attr(file.mode, file.data.length);
  }

  readdir(path: string): { name: string; attr: Attr }[] {
    this.count('readdir');
    const prefix = path === '/' ? '/' : `${path}/`;
    const names = [...this.dirs.keys(), ...this.files.keys()].filter((p) => p.startsWith(prefix) && p !== path && !p.slice(prefix.length).includes('/'));
    return names.map((p) => ({ name: p.slice(prefix.length), attr: this.stat(p) }));
  }

  mkdir(path: string, mode: number): void {
    this.dirs.set(path, 0o40000 | mode);
  }

  create(path: string, mode: number, flags: number): { fh: number } {
    this.openFlags.push(flags);
    this.files.set(path, { data: Buffer.alloc(0), mode: 0o100000 | mode });
    return { fh: this.nextFh++ };
  }

  open(path: string, flags: number): { fh: number } {
    this.openFlags.push(flags);
    this.file(path);
    return { fh: this.nextFh++ };
  }

  read(path: string, _fh: number, buffer: Buffer, position: number): number | Promise<number> {
    this.count('read');
    return this.later(() => this.file(path).data.copy(buffer, 0, position));
  }

  write(path: string, _fh: number, data: Buffer, position: number): number | Promise<number> {
    this.count('write');
    this.writeSizes.push(data.length);
    return this.later(() => {
      const file = this.file(path);
      const end = position + data.length;
      if (end > file.data.length) file.data = Buffer.concat([file.data, Buffer.alloc(end - file.data.length)]);
      data.copy(file.data, position);
      return data.length;
    });
  }

  truncate(path: string, size: number): void {
    const file = this.file(path);
    file.data = size <= file.data.length ? file.data.subarray(0, size) : Buffer.concat([file.data, Buffer.alloc(size - file.data.length)]);
  }

  utimens(path: string): void {
    this.stat(path); // times stay fixed: the writeback cache sends them on close
  }

  unlink(path: string): void {
    this.file(path);
    this.files.delete(path);
  }

  release(): void {
    // nothing to close
  }

  destroy(): void {
    this.destroyed = true;
  }
}

/** Mounts `fs` with the libfuse3 engine in a fresh temporary directory, runs `body`, unmounts. */
export function withMemoryMount<T>(fs: FileSystem, options: FuseOptions, body: (mnt: string, mount: ActiveMount, log: string[]) => Promise<T>): Promise<T> {
  return temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const log: string[] = [];
    const mount = await mountFilesystem({ filesystem: fs, mountpoint: mnt, plugin: 'engine-test', source: 'memory', engine: 'libfuse3', options, log: (line) => log.push(line) });
    try {
      return await body(mnt, mount, log);
    } finally {
      await mount.unmount({ lazy: true }).catch(() => undefined);
    }
  });
}
