import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { posix } from 'node:path';
import type { Attr, DirEntry, FileSystem, OpenReply, StatFs, TimeUpdate, Timespec } from '@kmx/core';
import { SysError, renamedPath } from '@kmx/core';
import type { NfsClient, NfsHandle } from './client.js';
import { SharedOpens, type SharedOpen } from './shared-opens.js';
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
  writes: WriteBehind;
}

export class NfsFileSystem implements FileSystem {
  private readonly handles = new Map<number, OpenHandle>();
  private nextFh = 1;
  /** NFSv4: one libnfs open per file (SharedOpens says why). */
  private readonly shared: SharedOpens;

  constructor(private readonly client: NfsClient, private readonly log: (line: string) => void = () => undefined) {
    this.shared = new SharedOpens(client, async (shared) => {
      for (const open of this.handles.values()) if (open.ref === shared) await open.writes.settled();
    });
  }

  private keep(ref: OpenHandle['ref'], path: string): OpenReply {
    const fh = this.nextFh++;
    if (this.nextFh > 0x7fffffff) this.nextFh = 1;
    this.handles.set(fh, { ref, path, hidden: false, closing: false, writes: new WriteBehind(WRITE_BEHIND_BYTES) });
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
    this.client.close();
  }

  async getattr(path: string, fh?: number): Promise<Attr> {
    const at = this.pathOf(path, fh);
    await this.settled(at); // sizes and times must include writes still behind
    const attr = await this.client.lstat(at);
    return at === path ? attr : { ...attr, nlink: Math.max(0, attr.nlink - 1) }; // hidden: counted without its hidden name
  }

  /** Where the file open as `fh` is now: its hidden name once unlinked while open, else `path`. */
  private pathOf(path: string, fh: number | undefined): string {
    const open = fh === undefined ? undefined : this.handles.get(fh);
    return open?.hidden ? open.path : path;
  }

  readlink(path: string): Promise<string> {
    return this.client.readlink(path);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    return this.client.readdir(path);
  }

  async open(path: string, flags: number): Promise<OpenReply> {
    const openFile = (): Promise<NfsHandle> => this.client.open(path, flags & ACCESS_FLAGS);
    if (this.client.protocol !== 4) return this.keep({ handle: await openFile() }, path);
    return this.keep(await this.shared.acquire(path, flags, openFile), path);
  }

  async create(path: string, mode: number, flags: number): Promise<OpenReply> {
    const createFile = (): Promise<NfsHandle> => this.client.create(path, (flags & ACCESS_FLAGS) | fsConstants.O_CREAT, mode & 0o7777);
    if (this.client.protocol !== 4) return this.keep({ handle: await createFile() }, path);
    return this.keep(await this.shared.acquire(path, flags, async () => {
      // libnfs 4.0 creates NFSv4 files EXCLUSIVE4: mode 0600 and a far-future mtime. A SETATTR
      // next to the open breaks it (SharedOpens), so close it, set both, and open it again.
      await this.client.close_(await createFile());
      const t = now();
      await this.client.chmod(path, mode & 0o7777);
      await this.client.utimes(path, t, t);
      return this.client.open(path, flags & fsConstants.O_APPEND ? flags & ACCESS_FLAGS & ~fsConstants.O_TRUNC : flags & 3);
    }, true), path);
  }

  async read(_path: string, fh: number, buffer: Buffer, position: number): Promise<number> {
    const open = this.open_(fh);
    await open.writes.drain(); // read what this handle wrote (and report its failure)
    await this.settled(open.path); // and what others wrote
    return this.client.read(await this.handleOf(open), buffer, position);
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
    await open.writes.addCopy(data, position, (copy) => this.client.write(open.ref.handle, copy, position));
    return data.length;
  }

  async flush(_path: string, fh: number): Promise<void> {
    const open = this.handles.get(fh);
    if (open === undefined) return;
    await open.writes.drain();
    this.client.checkWritesKept(open.ref.handle);
  }

  async fsync(_path: string, fh: number): Promise<void> {
    const open = this.open_(fh);
    await open.writes.drain();
    await this.client.fsync(await this.handleOf(open));
  }

  async release(_path: string, fh: number): Promise<void> {
    const open = this.handles.get(fh);
    if (open === undefined) return;
    open.closing = true;
    await open.writes.drain().catch((err: unknown) => this.log(`write to ${open.path} failed after close: ${String(err)}`));
    this.handles.delete(fh);
    if ('users' in open.ref) await this.shared.release(open.ref);
    else await this.client.close_(open.ref.handle);
    if (open.hidden) await this.removeHidden(open.path);
  }

  /** The opens of `path` not yet being closed. */
  private opensOf(path: string): OpenHandle[] {
    return [...this.handles.values()].filter((open) => open.path === path && !open.closing);
  }

  /** A hidden file goes once nothing has it open, its closing opens included. */
  private async removeHidden(hidden: string): Promise<void> {
    for (const open of this.handles.values()) if (open.path === hidden) return;
    await this.unlink(hidden).catch((err: unknown) => this.log(`could not remove ${hidden}: ${String(err)}`));
  }

  /**
   * A file unlinked (or replaced by a rename) while open here is renamed to a hidden name in its
   * directory instead, as the kernel's NFS client does (silly rename): NFS has no open files to
   * keep it alive, and the descriptors still open on it must go on working. The last close
   * removes it.
   */
  private async hide(path: string): Promise<void> {
    const opens = this.opensOf(path);
    if (opens.length === 0) return;
    const hidden = posix.join(posix.dirname(path), `.nfs${randomBytes(12).toString('hex')}`);
    await this.client.rename(path, hidden);
    for (const open of opens) {
      open.path = hidden;
      open.hidden = true;
    }
    await this.removeHidden(hidden); // they may all have been closed meanwhile
  }

  async truncate(path: string, size: number, fh: number | undefined): Promise<void> {
    const open = fh === undefined ? undefined : this.handles.get(fh);
    if (open === undefined) return this.settingAttributes(path, () => this.client.truncate(path, size));
    path = open.path;
    await open.writes.drain();
    await this.settled(path);
    return this.client.ftruncate(await this.handleOf(open), size);
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.client.mkdir(path, mode & 0o7777);
  }

  rmdir(path: string): Promise<void> {
    return this.client.rmdir(path);
  }

  async unlink(path: string): Promise<void> {
    if (this.opensOf(path).some((open) => !open.hidden)) return this.hide(path);
    const gone = await this.lastName(path);
    await this.client.unlink(path);
    if (gone !== undefined) this.shared.forget(gone);
  }

  async rename(from: string, to: string, flags: number): Promise<void> {
    if (flags !== 0) throw SysError.of('EINVAL', 'rename', to, { detail: 'NFS has no RENAME_NOREPLACE or RENAME_EXCHANGE' });
    if (from === to) return;
    await this.hide(to);
    const replaced = await this.lastName(to).catch(() => undefined); // to need not exist
    await this.client.rename(from, to);
    if (replaced !== undefined) this.shared.forget(replaced);
    for (const open of this.handles.values()) open.path = renamedPath(open.path, from, to);
  }

  /** NFSv4: the inode of the file at `path` if that is its last name (SharedOpens forgets it once gone). */
  private async lastName(path: string): Promise<number | undefined> {
    if (this.client.protocol !== 4) return undefined;
    const attr = await this.client.lstat(path);
    return attr.nlink <= 1 ? attr.ino : undefined;
  }

  symlink(target: string, path: string): Promise<void> {
    return this.client.symlink(target, path);
  }

  /** libnfs looks the source up following a symlink: it would link the file a symlink points to. */
  async link(existing: string, path: string): Promise<void> {
    const source = await this.client.lstat(existing);
    if ((source.mode & fsConstants.S_IFMT) === fsConstants.S_IFLNK) {
      throw SysError.of('EOPNOTSUPP', 'link', existing, { detail: 'libnfs 4.0 would link the file the symlink points to, not the symlink' });
    }
    return this.client.link(existing, path);
  }

  chmod(path: string, mode: number, fh?: number): Promise<void> {
    const at = this.pathOf(path, fh);
    return this.settingAttributes(at, () => this.client.chmod(at, mode & 0o7777));
  }

  chown(path: string, uid: number, gid: number, fh?: number): Promise<void> {
    const at = this.pathOf(path, fh);
    return this.settingAttributes(at, () => this.client.chown(at, uid, gid));
  }

  async utimens(path: string, atime: TimeUpdate, mtime: TimeUpdate, fh?: number): Promise<void> {
    path = this.pathOf(path, fh);
    await this.settled(path); // a time left as it is includes the writes behind
    const current = atime === 'omit' || mtime === 'omit' ? await this.client.lstat(path) : undefined;
    const pick = (t: TimeUpdate, old: Timespec | undefined): Timespec => (t === 'now' ? now() : t === 'omit' ? old ?? now() : t);
    await this.settingAttributes(path, () => this.client.utimes(path, pick(atime, current?.atime), pick(mtime, current?.mtime)));
  }

  /**
   * libnfs 4.0 changes NFSv4 attributes by path through an OPEN of its own (measured against
   * ganesha): a directory has none to give (EISDIR) and a symlink is followed (its target would
   * change instead), so v4 changes regular files only, around the mount's open of the file.
   */
  private async settingAttributes(path: string, set: () => Promise<void>): Promise<void> {
    await this.settled(path);
    if (this.client.protocol !== 4) return set();
    const attr = await this.client.lstat(path);
    if ((attr.mode & fsConstants.S_IFMT) !== fsConstants.S_IFREG || attr.ino === undefined) {
      throw SysError.of('EOPNOTSUPP', 'setattr', path, { detail: "libnfs 4.0 changes only regular files' attributes over NFSv4" });
    }
    await this.shared.around(path, attr.ino, set);
  }

  statfs(path: string): Promise<StatFs> {
    return this.client.statfs(path);
  }
}
