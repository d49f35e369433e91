import * as fs from 'node:fs';
import { SysError } from '@kmx/core';

/** An open file of the view: a real fd (read in place), or a snapshot taken at open. */
export type OpenFile =
  | { kind: 'fd'; fd: number; blocking: boolean }
  | { kind: 'snapshot'; data: Buffer }
  | { kind: 'remote-write'; write: (offset: number, data: Buffer) => Promise<number> };

/**
 * The open-file table. A snapshot answers every read of one open from the same text, as
 * /proc's seq files do for one reader; an fd passes reads through.
 */
export class Handles {
  private readonly files = new Map<number, OpenFile>();
  private next = 1;

  add(file: OpenFile): number {
    while (this.files.has(this.next)) this.next = this.next >= 0x7fffffff ? 1 : this.next + 1;
    const fh = this.next;
    this.files.set(fh, file);
    this.next = fh >= 0x7fffffff ? 1 : fh + 1;
    return fh;
  }

  get(fh: number): OpenFile {
    const file = this.files.get(fh);
    if (!file) throw SysError.of('EBADF', 'read', undefined, { detail: `no open file ${fh}` });
    return file;
  }

  release(fh: number): void {
    const file = this.files.get(fh);
    this.files.delete(fh);
    if (file?.kind === 'fd') fs.closeSync(file.fd);
  }

  /** Fills `buffer` from `position`: synchronous for fds and snapshots (the engine's fast path). */
  read(fh: number, buffer: Buffer, position: number): number | Promise<number> {
    const file = this.get(fh);
    switch (file.kind) {
      case 'snapshot':
        return file.data.copy(buffer, 0, Math.min(position, file.data.length));
      case 'fd':
        // kmsg and the like wait for data: those go to the thread pool, never the event loop.
        if (file.blocking) return readAsync(file.fd, buffer, position);
        return fs.readSync(file.fd, buffer, 0, buffer.length, position);
      case 'remote-write':
        throw SysError.of('EBADF', 'read', undefined, { detail: 'opened for writing' });
    }
  }

  write(fh: number, data: Buffer, position: number): number | Promise<number> {
    const file = this.get(fh);
    // The engine's buffer is valid only until the write settles: the RPC gets a copy.
    if (file.kind === 'remote-write') return file.write(position, Buffer.from(data));
    if (file.kind !== 'fd') throw SysError.of('EBADF', 'write', undefined, { detail: 'opened for reading' });
    return fs.writeSync(file.fd, data, 0, data.length, position);
  }

  closeAll(): void {
    for (const fh of [...this.files.keys()]) this.release(fh);
  }
}

function readAsync(fd: number, buffer: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buffer, 0, buffer.length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}
