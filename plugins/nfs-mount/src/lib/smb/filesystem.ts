import { constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';
import { SysError, errnoName, errnoOf, type Attr, type DirEntry, type FileSystem, type OpenReply, type StatFs, type TimeUpdate } from '@kmx/core';
import { clockTime } from '../userspace/connection.js';
import type { SmbClient, SmbConnection } from './client.js';
import type { RemoteStat } from './protocol.js';

// An SMB share as a FUSE filesystem (core's one FileSystem interface). Files belong to the user
// who mounted it, as cifs's uid=/gid= map them: SMB has no Unix owners without POSIX extensions,
// which Samba 4.17's libsmbclient does not speak (so no symlinks or hard links either).

const E = constants.errno;
/** Errors that mean the connection went away, not that the operation is wrong: an open file is opened again once. */
const CONNECTION_ERRORS = new Set([E.EIO, E.EBADF, E.ECONNRESET, E.ECONNABORTED, E.ENOTCONN, E.EPIPE, E.ETIMEDOUT]);
const OPEN_ONLY_FLAGS = fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_TRUNC;

interface OpenFile {
  connection: SmbConnection;
  handle: number;
  path: string;
  /** The flags to open it again with after a reconnect (no create, exclusive or truncate). */
  flags: number;
}

export interface SmbFileSystemOptions {
  uid: number;
  gid: number;
  /** The connection's state in words, for `kmx mounts` and `kmx smb list` (connected, or reconnecting since when and why). */
  onStatus?: (text: string) => void;
  /** How long the kernel may keep names and attributes (seconds); the mount's own timeouts otherwise. */
  attrSeconds?: number;
}

/** Errors that say the server cannot be reached at all (the state turns to reconnecting). */
const UNREACHABLE = new Set([...CONNECTION_ERRORS, E.ECONNREFUSED, E.EHOSTUNREACH, E.ENETUNREACH]);

/** A connection error as the caller sees it: EIO, as the kernel's cifs client answers. */
function asCallerError(err: unknown, syscall: string, path: string): unknown {
  const errno = errnoOf(err);
  if (errno !== undefined && errno !== E.EIO && CONNECTION_ERRORS.has(errno) && errno !== E.EBADF) return new SysError(E.EIO, syscall, path);
  return err;
}

function nsToTimespec(ns: bigint): { sec: number; nsec: number } {
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}

export class SmbFileSystem implements FileSystem {
  private readonly files = new Map<number, OpenFile>();
  private nextFh = 1;
  /** Since when the server has not answered; undefined while it does. */
  private downSince: Date | undefined;

  constructor(private readonly client: SmbClient, private readonly options: SmbFileSystemOptions) {}

  private attr(st: RemoteStat): Attr {
    return {
      mode: st.mode, nlink: Math.max(1, st.nlink), uid: this.options.uid, gid: this.options.gid, size: st.size, blocks: st.blocks, blksize: 4096,
      atime: nsToTimespec(st.atimeNs), mtime: nsToTimespec(st.mtimeNs), ctime: nsToTimespec(st.ctimeNs),
    };
  }

  private async run<T>(syscall: string, path: string, body: () => Promise<T>, retried = false): Promise<T> {
    try {
      const value = await body();
      this.answered();
      return value;
    } catch (err) {
      if (retried || !this.staleConnection(err)) {
        this.failed(err);
        throw asCallerError(err, syscall, path);
      }
    }
    await this.client.reconnect();
    return this.run(syscall, path, body, true);
  }

  /**
   * Whether an error says only that libsmbclient kept a connection the server stopped answering
   * on: once its timeout has fired, the next call on it can fail with EINVAL even though the
   * server answers again. Then the connection is dropped and the call made once more.
   */
  private staleConnection(err: unknown): boolean {
    return this.downSince !== undefined && errnoOf(err) === E.EINVAL;
  }

  /** A call went through: a server that was down is back. */
  private answered(): void {
    if (this.downSince === undefined) return;
    const seconds = Math.round((Date.now() - this.downSince.getTime()) / 1000);
    this.downSince = undefined;
    this.options.onStatus?.(`connected (reconnected after ${seconds} s down)`);
  }

  private failed(err: unknown): void {
    const errno = errnoOf(err);
    if (errno === undefined || !UNREACHABLE.has(errno) || errno === E.EBADF) return;
    if (this.downSince !== undefined) return;
    this.downSince = new Date();
    this.options.onStatus?.(`reconnecting: down since ${clockTime(this.downSince)}: ${errnoName(errno)}`);
  }

  private file(fh: number): OpenFile {
    const f = this.files.get(fh);
    if (!f) throw new SysError(E.EBADF, 'smb', String(fh));
    return f;
  }

  /** Runs an operation on an open file; after a connection error (or a stale connection), opens the file again (a reconnect) and tries once more. */
  private async onFile<T>(fh: number, syscall: string, body: (c: SmbConnection, handle: number) => Promise<T>): Promise<T> {
    const f = this.file(fh);
    try {
      const value = await body(f.connection, f.handle);
      this.answered();
      return value;
    } catch (err) {
      const errno = errnoOf(err);
      const stale = this.staleConnection(err);
      if (errno === undefined || (!CONNECTION_ERRORS.has(errno) && !stale)) throw err;
      if (stale) await this.client.reconnect();
      let handle: number;
      try {
        handle = await f.connection.call('open', f.path, f.flags, 0);
      } catch (again) {
        this.failed(again);
        throw asCallerError(again, syscall, f.path);
      }
      void f.connection.call('close', f.handle).catch(() => undefined);
      f.handle = handle;
      return this.run(syscall, f.path, () => body(f.connection, handle));
    }
  }

  getattr(path: string): Promise<Attr> {
    // By path even for an open file: libsmbclient's fstat fails with EINVAL on a file opened
    // write-only (it asks the server with the file's own handle, which may not read attributes).
    return this.run('stat', path, async () => this.attr(await this.client.call('stat', path)));
  }

  readdir(path: string): Promise<readonly DirEntry[]> {
    return this.run('readdir', path, async () => (await this.client.call('readdir', path)).map((e) => ({ name: e.name, attr: this.attr(e.stat) })));
  }

  private async openWith(path: string, flags: number, mode: number): Promise<OpenReply> {
    const connection = this.client.pick();
    // The kernel sends every write with its offset (appends too): O_APPEND would move them.
    const wanted = flags & ~fsConstants.O_APPEND;
    const handle = await this.run('open', path, () => connection.call('open', path, wanted, mode));
    const fh = this.nextFh++;
    this.files.set(fh, { connection, handle, path, flags: wanted & ~OPEN_ONLY_FLAGS });
    return { fh };
  }

  open(path: string, flags: number): Promise<OpenReply> {
    return this.openWith(path, flags, 0);
  }

  create(path: string, mode: number, flags: number): Promise<OpenReply> {
    return this.openWith(path, flags | fsConstants.O_CREAT, mode & 0o7777);
  }

  async read(_path: string, fh: number, buffer: Buffer, position: number): Promise<number> {
    const data = await this.onFile(fh, 'read', (c, h) => c.call('read', h, position, buffer.length));
    buffer.set(data);
    return data.length;
  }

  write(_path: string, fh: number, data: Buffer, position: number): Promise<number> {
    // A copy in its own memory: it is handed over to the worker, and the engine's buffer is not ours.
    return this.onFile(fh, 'write', (c, h) => c.call('write', h, position, new Uint8Array(data)));
  }

  async release(_path: string, fh: number): Promise<void> {
    const f = this.files.get(fh);
    this.files.delete(fh);
    if (f) await f.connection.call('close', f.handle).catch(() => undefined);
  }

  async truncate(path: string, size: number, fh: number | undefined): Promise<void> {
    if (fh !== undefined && this.files.has(fh)) return this.onFile(fh, 'ftruncate', (c, h) => c.call('ftruncate', h, size));
    const connection = this.client.pick();
    await this.run('truncate', path, async () => {
      const handle = await connection.call('open', path, fsConstants.O_WRONLY, 0);
      try {
        await connection.call('ftruncate', handle, size);
      } finally {
        await connection.call('close', handle).catch(() => undefined);
      }
    });
  }

  unlink(path: string): Promise<void> {
    return this.run('unlink', path, () => this.client.call('unlink', path));
  }

  rmdir(path: string): Promise<void> {
    return this.run('rmdir', path, () => this.client.call('rmdir', path));
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.run('mkdir', path, () => this.client.call('mkdir', path, mode & 0o7777));
  }

  async rename(from: string, to: string, flags: number): Promise<void> {
    const RENAME_NOREPLACE = 1;
    if (flags & ~RENAME_NOREPLACE) throw new SysError(E.EINVAL, 'rename', from);
    await this.run('rename', from, async () => {
      if (flags & RENAME_NOREPLACE) {
        const exists = await this.client.call('stat', to).then(() => true, (err: unknown) => (errnoOf(err) === E.ENOENT ? false : Promise.reject(err)));
        if (exists) throw new SysError(E.EEXIST, 'rename', to);
      }
      await this.client.call('rename', from, to);
    });
  }

  chmod(path: string, mode: number): Promise<void> {
    // SMB keeps only the DOS read-only bit: libsmbclient maps the write bits onto it.
    return this.run('chmod', path, () => this.client.call('chmod', path, mode & 0o7777));
  }

  chown(path: string, uid: number, gid: number): void {
    // Every file is the mounting user's (see above): only a change to that is no change.
    if ((uid !== -1 && uid !== this.options.uid) || (gid !== -1 && gid !== this.options.gid)) throw new SysError(E.EPERM, 'chown', path);
  }

  async utimens(path: string, atime: TimeUpdate, mtime: TimeUpdate): Promise<void> {
    const now = Date.now();
    const current = atime === 'omit' || mtime === 'omit' ? await this.run('stat', path, () => this.client.call('stat', path)) : undefined;
    const pick = (t: TimeUpdate, keptNs: bigint | undefined): [number, number] => {
      if (t === 'now') return [Math.floor(now / 1000), (now % 1000) * 1000];
      if (t === 'omit') return [Number(keptNs! / 1_000_000_000n), Number((keptNs! % 1_000_000_000n) / 1000n)];
      return [t.sec, Math.floor(t.nsec / 1000)];
    };
    const a = pick(atime, current?.atimeNs);
    const m = pick(mtime, current?.mtimeNs);
    await this.run('utimes', path, () => this.client.call('utimes', path, a, m));
  }

  async fsync(): Promise<void> {
    // libsmbclient writes through: every write was answered by the server.
  }

  statfs(path: string): Promise<StatFs> {
    return this.run('statfs', path, async () => {
      const s = await this.client.call('statvfs', path);
      return { ...s, namemax: s.namemax || 255 };
    });
  }

  async destroy(): Promise<void> {
    this.files.clear();
    await this.client.close();
  }
}
