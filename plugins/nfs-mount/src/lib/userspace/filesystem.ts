import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { posix } from 'node:path';
import type { Attr, Caller, DirEntry, FileSystem, OpenReply, StatFs, TimeUpdate } from '@kmx/core';
import { SysError, renamedPath } from '@kmx/core';
import type { NfsClient, NfsHandle } from './client.js';
import { CallerCredentials, type NfsClients } from './pool.js';
import { SharedOpens, type SharedOpen } from './shared-opens.js';
import { WriteBehind } from './write-behind.js';

// The user-space NFS mount: every FUSE operation becomes one or a few libnfs calls over an
// event-loop-driven connection. NFS's own rules apply: the server checks permissions for the
// AUTH_SYS identity a request carries, which is the mounting user's, or on a shared mount
// (allow_other) the caller's (pool.ts). libnfs 4.0's NFSv4 quirks are worked around here.

/** One client (one user's connection) and, on NFSv4, the opens made through it. */
interface Lane {
  client: NfsClient;
  opens: SharedOpens;
}

const O_ACCMODE = 3;
/** Bytes of writes one open file may have in flight (write-behind). */
const WRITE_BEHIND_BYTES = 16 * 1024 * 1024;
const ACCESS_FLAGS = O_ACCMODE | fsConstants.O_APPEND | fsConstants.O_TRUNC;


interface OpenHandle {
  /** Follows renames; a hidden name once unlinked while open (hide). */
  path: string;
  /** Unlinked while open: renamed to a hidden name, removed when its last open closes. */
  hidden: boolean;
  /**
   * Its RELEASE has come: the file was closed. FUSE sends RELEASE after close() has returned, so
   * an unlink right after the close may arrive while it is still being handled.
   */
  closing: boolean;
  /** The libnfs open behind it: its own on v3, the file's SharedOpen on v4. */
  ref: { handle: NfsHandle } | SharedOpen;
  /** The client it was opened through: its I/O goes out as the user who opened it. */
  lane: Lane;
  /** Who hid it (unlinked while open): the last close removes it as that user. */
  hiddenBy?: Lane;
  writes: WriteBehind;
}

export interface NfsFileSystemOptions {
  /** The mount is shared (allow_other): send each request as its caller. */
  perCaller?: boolean;
}

export class NfsFileSystem implements FileSystem {
  private readonly handles = new Map<number, OpenHandle>();
  private nextFh = 1;
  /** NFSv4: one libnfs open per file and client (SharedOpens says why). */
  private readonly lanes = new WeakMap<NfsClient, Lane>();
  private readonly credentials = new CallerCredentials();
  private readonly perCaller: boolean;
  private readonly protocol: 3 | 4;

  constructor(private readonly clients: NfsClients, private readonly log: (line: string) => void = () => undefined, options: NfsFileSystemOptions = {}) {
    this.perCaller = options.perCaller === true;
    this.protocol = clients.protocol;
  }

  private laneOf(client: NfsClient): Lane {
    let lane = this.lanes.get(client);
    if (!lane) {
      lane = {
        client,
        opens: new SharedOpens(client, async (shared) => {
          for (const open of this.handles.values()) if (open.ref === shared) await open.writes.settled();
        }),
      };
      this.lanes.set(client, lane);
    }
    return lane;
  }

  /** The client a request goes out through: the caller's on a shared mount, else the mount's own. */
  private async lane(caller: Caller | undefined): Promise<Lane> {
    if (!this.perCaller || caller === undefined) return this.laneOf(this.clients.own);
    return this.laneOf(await this.clients.for(await this.credentials.of(caller)));
  }

  private keep(ref: OpenHandle['ref'], path: string, lane: Lane): OpenReply {
    const fh = this.nextFh++;
    if (this.nextFh > 0x7fffffff) this.nextFh = 1;
    this.handles.set(fh, { ref, path, lane, hidden: false, closing: false, writes: new WriteBehind(WRITE_BEHIND_BYTES) });
    return { fh };
  }

  /**
   * Waits for the writes behind of every open of `path`; a failure stays for flush and close.
   * Whatever must follow those writes waits for this: ganesha serves requests on several
   * threads, so a SETATTR or READ sent while they are in flight may be carried out first (cp -p
   * sets the times of the still-open copy; one descriptor truncates what another wrote).
   */
  private async settled(path: string): Promise<void> {
    for (const open of this.handles.values()) if (open.path === path) await open.writes.settled();
  }

  /** The libnfs handle of an open, once it is not being replaced (SharedOpens). */
  private async handleOf(open: OpenHandle): Promise<NfsHandle> {
    if ('ready' in open.ref) await open.ref.ready;
    return open.ref.handle;
  }

  destroy(): void {
    this.clients.close();
  }

  async getattr(path: string, fh?: number, caller?: Caller): Promise<Attr> {
    const open = fh === undefined ? undefined : this.handles.get(fh);
    const at = open?.hidden ? open.path : path;
    await this.settled(at); // sizes and times must include writes still behind
    // An open file's own, by its handle (fstat): removed or renamed on the server, it is still this file.
    const attr = open ? await open.lane.client.fstat(await this.handleOf(open)) : await (await this.lane(caller)).client.lstat(at);
    return open?.hidden ? { ...attr, nlink: Math.max(0, attr.nlink - 1) } : attr; // hidden: counted without its hidden name
  }

  /** Where the file open as `fh` is now: its hidden name once unlinked while open, else `path`. */
  private pathOf(path: string, fh: number | undefined): string {
    const open = fh === undefined ? undefined : this.handles.get(fh);
    return open?.hidden ? open.path : path;
  }

  async readlink(path: string, caller?: Caller): Promise<string> {
    return (await this.lane(caller)).client.readlink(path);
  }

  async readdir(path: string, _fh?: number, caller?: Caller): Promise<DirEntry[]> {
    return (await this.lane(caller)).client.readdir(path);
  }

  async open(path: string, flags: number, caller?: Caller): Promise<OpenReply> {
    const lane = await this.lane(caller);
    const openFile = (): Promise<NfsHandle> => lane.client.open(path, flags & ACCESS_FLAGS);
    if (this.protocol !== 4) return this.keep({ handle: await openFile() }, path, lane);
    return this.keep(await lane.opens.acquire(path, flags, openFile), path, lane);
  }

  async create(path: string, mode: number, flags: number, caller?: Caller): Promise<OpenReply> {
    const lane = await this.lane(caller);
    const { client } = lane;
    const createFile = (): Promise<NfsHandle> => client.create(path, (flags & ACCESS_FLAGS) | fsConstants.O_CREAT, mode & 0o7777);
    if (this.protocol !== 4) return this.keep({ handle: await createFile() }, path, lane);
    return this.keep(await lane.opens.acquire(path, flags, async () => {
      // libnfs 4.0 creates NFSv4 files EXCLUSIVE4: mode 0600 and a far-future mtime (where the
      // server keeps the verifier). Both are set at once (a SETATTR without an OPEN of its own).
      const handle = await createFile();
      try {
        await client.setAttributes(path, { mode: mode & 0o7777, atime: 'now', mtime: 'now' });
      } catch (err) {
        await client.close_(handle).catch(() => undefined);
        throw err;
      }
      return handle;
    }, true), path, lane);
  }

  async read(_path: string, fh: number, buffer: Buffer, position: number): Promise<number> {
    const open = this.open_(fh);
    await open.writes.drain(); // read what this handle wrote (and report its failure)
    await this.settled(open.path); // and what others wrote
    return open.lane.client.read(await this.handleOf(open), buffer, position);
  }

  private open_(fh: number): OpenHandle {
    const open = this.handles.get(fh);
    if (open === undefined) throw SysError.of('EBADF', 'nfs', undefined, { detail: `no open file ${fh}` });
    return open;
  }

  async write(_path: string, fh: number, data: Buffer, position: number): Promise<number> {
    const open = this.open_(fh);
    await this.handleOf(open);
    // What was written before over the same bytes, through any open of the file, lands first.
    for (const other of this.handles.values()) if (other.path === open.path || other.ref === open.ref) await other.writes.landed(position, position + data.length);
    // The engine owns `data` only until this settles, and the WRITE outlives it: send a copy.
    await open.writes.addCopy(data, position, (copy) => open.lane.client.write(open.ref.handle, copy, position));
    return data.length;
  }

  async flush(_path: string, fh: number): Promise<void> {
    const open = this.handles.get(fh);
    if (open === undefined) return;
    await open.writes.drain();
    open.lane.client.checkWritesKept(open.ref.handle);
  }

  async fsync(_path: string, fh: number): Promise<void> {
    const open = this.open_(fh);
    await open.writes.drain();
    await open.lane.client.fsync(await this.handleOf(open));
  }

  async release(_path: string, fh: number): Promise<void> {
    const open = this.handles.get(fh);
    if (open === undefined) return;
    open.closing = true;
    await open.writes.drain().catch((err: unknown) => this.log(`write to ${open.path} failed after close: ${String(err)}`));
    this.handles.delete(fh);
    if ('users' in open.ref) await open.lane.opens.release(open.ref);
    else await open.lane.client.close_(open.ref.handle);
    if (open.hidden) await this.removeHidden(open.path, open.hiddenBy ?? open.lane);
  }

  /** The opens of `path` not yet being closed. */
  private opensOf(path: string): OpenHandle[] {
    return [...this.handles.values()].filter((open) => open.path === path && !open.closing);
  }

  /** A hidden file goes once nothing has it open, its closing opens included. */
  private async removeHidden(hidden: string, lane: Lane): Promise<void> {
    for (const open of this.handles.values()) if (open.path === hidden) return;
    await this.unlinkAs(lane, hidden).catch((err: unknown) => this.log(`could not remove ${hidden}: ${String(err)}`));
  }

  /**
   * A file unlinked (or replaced by a rename) while open here is renamed to a hidden name in its
   * directory instead, as the kernel's NFS client does (silly rename): NFS has no open files to
   * keep it alive, and the descriptors still open on it must go on working. The last close
   * removes it.
   */
  private async hide(path: string, lane: Lane): Promise<void> {
    const opens = this.opensOf(path);
    if (opens.length === 0) return;
    const hidden = posix.join(posix.dirname(path), `.nfs${randomBytes(12).toString('hex')}`);
    await lane.client.rename(path, hidden);
    for (const open of opens) {
      open.path = hidden;
      open.hidden = true;
      open.hiddenBy = lane;
    }
    await this.removeHidden(hidden, lane); // they may all have been closed meanwhile
  }

  async truncate(path: string, size: number, fh: number | undefined, caller?: Caller): Promise<void> {
    const open = fh === undefined ? undefined : this.handles.get(fh);
    if (open === undefined) {
      const lane = await this.lane(caller);
      return this.settingAttributes(path, () => lane.client.truncate(path, size));
    }
    path = open.path;
    await open.writes.drain();
    await this.settled(path);
    return open.lane.client.ftruncate(await this.handleOf(open), size);
  }

  async mkdir(path: string, mode: number, caller?: Caller): Promise<void> {
    return (await this.lane(caller)).client.mkdir(path, mode & 0o7777);
  }

  /** FIFOs, sockets and device nodes; a regular file is created and closed. */
  async mknod(path: string, mode: number, rdev: number, caller?: Caller): Promise<void> {
    const { client } = await this.lane(caller);
    if ((mode & fsConstants.S_IFMT) === fsConstants.S_IFREG) {
      const { fh } = await this.create(path, mode, fsConstants.O_WRONLY | fsConstants.O_EXCL, caller);
      return this.release(path, fh);
    }
    return client.mknod(path, mode, rdev);
  }

  async rmdir(path: string, caller?: Caller): Promise<void> {
    return (await this.lane(caller)).client.rmdir(path);
  }

  async unlink(path: string, caller?: Caller): Promise<void> {
    return this.unlinkAs(await this.lane(caller), path);
  }

  private async unlinkAs(lane: Lane, path: string): Promise<void> {
    if (this.opensOf(path).some((open) => !open.hidden)) return this.hide(path, lane);
    const gone = await this.lastName(lane, path);
    await lane.client.unlink(path);
    if (gone !== undefined) this.forget(gone);
  }

  async rename(from: string, to: string, flags: number, caller?: Caller): Promise<void> {
    if (flags !== 0) throw SysError.of('EINVAL', 'rename', to, { detail: 'NFS has no RENAME_NOREPLACE or RENAME_EXCHANGE' });
    if (from === to) return;
    const lane = await this.lane(caller);
    await this.hide(to, lane);
    const replaced = await this.lastName(lane, to).catch(() => undefined); // to need not exist
    await lane.client.rename(from, to);
    if (replaced !== undefined) this.forget(replaced);
    for (const open of this.handles.values()) open.path = renamedPath(open.path, from, to);
  }

  /** NFSv4: the inode of the file at `path` if that is its last name (SharedOpens forgets it once gone). */
  private async lastName(lane: Lane, path: string): Promise<number | undefined> {
    if (this.protocol !== 4) return undefined;
    const attr = await lane.client.lstat(path);
    return attr.nlink <= 1 ? attr.ino : undefined;
  }

  /** The file numbered `ino` lost its last name: no client's opens may take a new file of that number for it. */
  private forget(ino: number): void {
    const seen = new Set<Lane>();
    for (const open of this.handles.values()) seen.add(open.lane);
    seen.add(this.laneOf(this.clients.own));
    for (const lane of seen) lane.opens.forget(ino);
  }

  async symlink(target: string, path: string, caller?: Caller): Promise<void> {
    return (await this.lane(caller)).client.symlink(target, path);
  }

  /** libnfs looks the source up following a symlink: it would link the file a symlink points to. */
  async link(existing: string, path: string, caller?: Caller): Promise<void> {
    const { client } = await this.lane(caller);
    const source = await client.lstat(existing);
    if ((source.mode & fsConstants.S_IFMT) === fsConstants.S_IFLNK) {
      throw SysError.of('EOPNOTSUPP', 'link', existing, { detail: 'libnfs 4.0 would link the file the symlink points to, not the symlink' });
    }
    return client.link(existing, path);
  }

  async chmod(path: string, mode: number, fh?: number, caller?: Caller): Promise<void> {
    const at = this.pathOf(path, fh);
    const lane = await this.lane(caller);
    return this.settingAttributes(at, () => lane.client.chmod(at, mode & 0o7777));
  }

  async chown(path: string, uid: number, gid: number, fh?: number, caller?: Caller): Promise<void> {
    const at = this.pathOf(path, fh);
    const lane = await this.lane(caller);
    return this.settingAttributes(at, () => lane.client.chown(at, uid, gid));
  }

  async utimens(path: string, atime: TimeUpdate, mtime: TimeUpdate, fh?: number, caller?: Caller): Promise<void> {
    path = this.pathOf(path, fh);
    const lane = await this.lane(caller);
    // A time left as it is includes the writes behind.
    await this.settingAttributes(path, () => lane.client.utimes(path, atime, mtime));
  }

  /** Changes attributes once the writes behind to the file have landed (the server may reorder them). */
  private async settingAttributes(path: string, set: () => Promise<void>): Promise<void> {
    await this.settled(path);
    return set();
  }

  async statfs(path: string, caller?: Caller): Promise<StatFs> {
    return (await this.lane(caller)).client.statfs(path);
  }
}
