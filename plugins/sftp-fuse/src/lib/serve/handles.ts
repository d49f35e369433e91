import * as fs from 'node:fs';
import { SysError } from '@kmx/core';

/** Handles a client may hold open at once (announced by limits@openssh.com). */
export const MAX_HANDLES = 1024;

export interface FileHandle {
  kind: 'file';
  fd: number;
}

export interface DirHandle {
  kind: 'dir';
  fd: number;
  /** The client's path for it, to find its '..' inside the root. */
  path: string;
  names: string[] | undefined;
  next: number;
}

/** The client's handles: a 4-byte number for each fd the server holds open for it. */
export class Handles {
  private readonly handles = new Map<number, FileHandle | DirHandle>();
  private nextHandle = 1;

  /** A handle for `h`; past MAX_HANDLES its fd is closed and the open fails (EMFILE). */
  add(h: FileHandle | DirHandle): Buffer {
    if (this.handles.size >= MAX_HANDLES) {
      fs.closeSync(h.fd);
      throw SysError.of('EMFILE', 'open');
    }
    while (this.handles.has(this.nextHandle)) this.nextHandle = (this.nextHandle % 0xfffffffe) + 1;
    const number = this.nextHandle;
    this.nextHandle = (this.nextHandle % 0xfffffffe) + 1;
    this.handles.set(number, h);
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(number, 0);
    return buffer;
  }

  get(handle: Buffer): FileHandle | DirHandle {
    const h = handle.length === 4 ? this.handles.get(handle.readUInt32BE(0)) : undefined;
    if (!h) throw SysError.of('EBADF', 'handle');
    return h;
  }

  file(handle: Buffer): FileHandle {
    const h = this.get(handle);
    if (h.kind !== 'file') throw SysError.of('EISDIR', 'read');
    return h;
  }

  directory(handle: Buffer): DirHandle {
    const h = this.get(handle);
    if (h.kind !== 'dir') throw SysError.of('ENOTDIR', 'readdir');
    return h;
  }

  close(handle: Buffer): void {
    const h = this.get(handle);
    this.handles.delete(handle.readUInt32BE(0));
    fs.closeSync(h.fd);
  }

  closeAll(): void {
    for (const h of this.handles.values()) fs.closeSync(h.fd);
    this.handles.clear();
  }
}
