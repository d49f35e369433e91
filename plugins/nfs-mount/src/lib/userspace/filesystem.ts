import { constants as fsConstants } from 'node:fs';
import type { Attr, DirEntry, FileSystem, OpenReply, StatFs, TimeUpdate, Timespec } from '@kmx/core';
import { SysError } from '@kmx/core';
import type { NfsClient, NfsHandle } from './client.js';
import { WriteBehind } from './write-behind.js';

// The user-space NFS mount: every FUSE operation becomes one or a few libnfs calls over one
// event-loop-driven connection. NFS's own rules (permissions checked by the server for the
// mounting user's AUTH_SYS identity) apply; libnfs 4.0's NFSv4 quirks are worked around here.

const O_ACCMODE = 3;
/** Bytes of writes one open file may have in flight (write-behind). */
const WRITE_BEHIND_BYTES = 16 * 1024 * 1024;
const ACCESS_FLAGS = O_ACCMODE | fsConstants.O_APPEND | fsConstants.O_TRUNC;

function now(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

export class NfsFileSystem implements FileSystem {
  private readonly handles = new Map<number, { handle: NfsHandle; path: string; writes: WriteBehind }>();
  private nextFh = 1;
  /**
   * NFSv4 opens of one file by one client share a stateid, so a CLOSE for one handle breaks
   * every other open of that file (BAD_STATEID). Handles of a path are closed together, when
   * its last one is released.
   */
  private readonly openPaths = new Map<string, NfsHandle[]>();

  constructor(private readonly client: NfsClient, private readonly log: (line: string) => void = () => undefined) {}

  private keep(handle: NfsHandle, path: string): OpenReply {
    const fh = this.nextFh++;
    if (this.nextFh > 0x7fffffff) this.nextFh = 1;
    this.handles.set(fh, { handle, path, writes: new WriteBehind(WRITE_BEHIND_BYTES) });
    const open = this.openPaths.get(path);
    if (open) open.push(handle);
    else this.openPaths.set(path, [handle]);
    return { fh };
  }

  private handle(fh: number): NfsHandle {
    return this.open_(fh).handle;
  }

  destroy(): void {
    this.client.close();
  }

  async getattr(path: string): Promise<Attr> {
    // Sizes and times must include writes still behind.
    for (const open of this.handles.values()) if (open.path === path) await open.writes.settled();
    return this.client.lstat(path);
  }

  readlink(path: string): Promise<string> {
    return this.client.readlink(path);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    return this.client.readdir(path);
  }

  async open(path: string, flags: number): Promise<OpenReply> {
    return this.keep(await this.client.open(path, flags & ACCESS_FLAGS), path);
  }

  async create(path: string, mode: number, flags: number): Promise<OpenReply> {
    const handle = await this.client.create(path, (flags & ACCESS_FLAGS) | fsConstants.O_CREAT, mode & 0o7777);
    if (this.client.protocol !== 4) return this.keep(handle, path);
    // libnfs 4.0 creates NFSv4 files EXCLUSIVE4: mode 0600 and a far-future mtime. A SETATTR on
    // the open file invalidates its stateid (later WRITEs get BAD_STATEID), so close it, set
    // both, and open it again.
    await this.client.close_(handle);
    const t = now();
    await this.client.chmod(path, mode & 0o7777);
    await this.client.utimes(path, t, t);
    return this.keep(await this.client.open(path, flags & fsConstants.O_APPEND ? flags & ACCESS_FLAGS & ~fsConstants.O_TRUNC : flags & 3), path);
  }

  async read(_path: string, fh: number, buffer: Buffer, position: number): Promise<number> {
    const open = this.open_(fh);
    await open.writes.drain(); // read what this handle wrote
    return this.client.read(open.handle, buffer, position);
  }

  private open_(fh: number): { handle: NfsHandle; path: string; writes: WriteBehind } {
    const open = this.handles.get(fh);
    if (open === undefined) throw SysError.of('EBADF', 'nfs', undefined, { detail: `no open file ${fh}` });
    return open;
  }

  async write(_path: string, fh: number, data: Buffer, position: number): Promise<number> {
    const open = this.open_(fh);
    // The engine owns `data` only until this settles, and the WRITE outlives it: send a copy.
    await open.writes.addCopy(data, (copy) => this.client.write(open.handle, copy, position));
    return data.length;
  }

  async flush(_path: string, fh: number): Promise<void> {
    await this.handles.get(fh)?.writes.drain();
  }

  async fsync(_path: string, fh: number): Promise<void> {
    const open = this.open_(fh);
    await open.writes.drain();
    await this.client.fsync(open.handle);
  }

  async release(_path: string, fh: number): Promise<void> {
    const open = this.handles.get(fh);
    if (open === undefined) return;
    await open.writes.drain().catch((err: unknown) => this.log(`write to ${open.path} failed after close: ${String(err)}`));
    this.handles.delete(fh);
    if (this.client.protocol !== 4) {
      await this.client.close_(open.handle);
      return;
    }
    const siblings = this.openPaths.get(open.path) ?? [];
    if ([...this.handles.values()].some((h) => h.path === open.path)) return; // closed with the last one
    this.openPaths.delete(open.path);
    for (const handle of siblings) await this.client.close_(handle).catch(() => undefined);
  }

  async truncate(path: string, size: number, fh: number | undefined): Promise<void> {
    const open = fh === undefined ? undefined : this.handles.get(fh);
    if (open === undefined) return this.client.truncate(path, size);
    await open.writes.drain();
    return this.client.ftruncate(open.handle, size);
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.client.mkdir(path, mode & 0o7777);
  }

  rmdir(path: string): Promise<void> {
    return this.client.rmdir(path);
  }

  unlink(path: string): Promise<void> {
    return this.client.unlink(path);
  }

  async rename(from: string, to: string, flags: number): Promise<void> {
    if (flags !== 0) throw SysError.of('EINVAL', 'rename', to, { detail: 'NFS has no RENAME_NOREPLACE or RENAME_EXCHANGE' });
    await this.client.rename(from, to);
  }

  symlink(target: string, path: string): Promise<void> {
    return this.client.symlink(target, path);
  }

  link(existing: string, path: string): Promise<void> {
    return this.client.link(existing, path);
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.client.chmod(path, mode & 0o7777);
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.client.chown(path, uid, gid);
  }

  async utimens(path: string, atime: TimeUpdate, mtime: TimeUpdate): Promise<void> {
    const current = atime === 'omit' || mtime === 'omit' ? await this.client.lstat(path) : undefined;
    const pick = (t: TimeUpdate, old: Timespec | undefined): Timespec => (t === 'now' ? now() : t === 'omit' ? old ?? now() : t);
    await this.client.utimes(path, pick(atime, current?.atime), pick(mtime, current?.mtime));
  }

  statfs(path: string): Promise<StatFs> {
    return this.client.statfs(path);
  }
}
