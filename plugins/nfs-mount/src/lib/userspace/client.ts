import { constants as fsConstants } from 'node:fs';
import { posix } from 'node:path';
import type { Attr, ConnectionState, StatFs, TimeUpdate, Timespec } from '@kmx/core';
import { SysError } from '@kmx/core';
import { NfsCalls, statAttr, statOn } from './calls.js';
import { NfsConnection, type Mounted } from './connection.js';
import { mountExport, NAME_MAX, type ExportOptions, type NfsProtocol } from './mount-export.js';
import { OpenFiles, type NfsFile } from './open-files.js';
import { fileHandleBytes, LIBNFS_SYMLINK_MAX, mknodV4, setattrV4, symlinkV3, symlinkV4, type Attributes } from './raw.js';

// NFS operations as promises, over an event-loop-driven libnfs context that is made again when
// the connection breaks (connection.ts). Paths are relative to the mounted export ('/' is its
// root). One client sends everything as one user (AUTH_SYS); a shared mount has one per user
// (pool.ts).

/** NFSv4 GETATTRs of a listing's entries in flight at once. */
const READDIR_GETATTRS = 64;

function clientNow(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

/** A handle of an open file. */
export type NfsHandle = NfsFile;

export interface NfsClientOptions extends ExportOptions {
  log?: (line: string) => void;
  onState?: (state: ConnectionState) => void;
  /** Ask an idle connection something every few seconds (default true). */
  probe?: boolean;
}

export class NfsClient {
  private readonly connection: NfsConnection;
  private readonly calls: NfsCalls;
  private readonly files: OpenFiles;

  private constructor(first: Mounted, readonly protocol: NfsProtocol, options: NfsClientOptions) {
    this.connection = new NfsConnection(first, {
      open: (signal) => mountExport(options, signal),
      timeoutMs: options.timeoutMs,
      log: options.log ?? (() => undefined),
      ...(options.onState ? { onState: options.onState } : {}),
      ...(options.probe === false ? { probeMs: 0 } : {}),
    }, (session) => statOn(session, '/'));
    this.calls = new NfsCalls(this.connection, protocol);
    this.files = new OpenFiles(this.calls);
  }

  /** Files open through this client, or calls in flight on it. */
  get busy(): boolean {
    return this.files.size > 0 || (this.connection.live?.ctx.pendingCount ?? 0) > 0;
  }

  /** Connects and mounts the export; a failure here is the mount's failure (nothing reconnects yet). */
  static async connect(options: NfsClientOptions): Promise<NfsClient> {
    return new NfsClient(await mountExport(options), options.protocol, options);
  }

  close(): void {
    this.connection.close();
  }

  lstat(path: string): Promise<Attr> {
    return this.connection.run(true, (s) => statOn(s, path));
  }

  /** The attributes of an open file, by its handle: it may have no name left on the server. */
  fstat(file: NfsFile): Promise<Attr> {
    return this.files.on(true, file, (s, fh) => s.ctx.call('fstat', (cb, id) => s.ctx.library.fstat64_async(s.ctx.raw, fh, cb, id), (data) => statAttr(s, data)));
  }

  /** Opens an existing file (sent again on a new connection if this one breaks: opening twice does no harm). */
  open(path: string, flags: number): Promise<NfsFile> {
    return this.calls.inSequence(() => this.calls.call(true, 'open', (lib, raw, cb, id) => lib.open_async(raw, path, flags, cb, id), (s, data) => this.files.opened(path, flags, s, data), true));
  }

  /** Creates a file (never sent twice: the first may have made it). */
  create(path: string, flags: number, mode: number): Promise<NfsFile> {
    return this.calls.inSequence(() => this.calls.call(false, 'create', (lib, raw, cb, id) => lib.create_async(raw, path, flags, mode, cb, id), (s, data) => this.files.opened(path, flags, s, data), true));
  }

  /** Closes an open file. On a connection that is gone there is nothing left to close. */
  close_(file: NfsFile): Promise<void> {
    return this.files.close(file);
  }

  /** Reads into `target` from `position`, in calls of at most readMax; the bytes read (short only at EOF). */
  read(file: NfsFile, target: Buffer, position: number): Promise<number> {
    return this.files.on(true, file, async (s, fh) => {
      let done = 0;
      while (done < target.length) {
        const want = Math.min(s.readMax, target.length - done);
        const n = await s.ctx.call('read', (cb, id) => s.ctx.library.pread_async(s.ctx.raw, fh, position + done, want, cb, id), (data, count) => {
          if (count > 0) s.ctx.library.memcpy(target.subarray(done, done + count), data, count); // copy now: libnfs reuses its buffer
          return count;
        });
        done += n;
        if (n < want) break;
      }
      return done;
    });
  }

  /**
   * Writes at `position`: sent again on a new connection if this one breaks (the same bytes at
   * the same place), but for a file open O_APPEND, where libnfs writes at the end it finds.
   */
  write(file: NfsFile, data: Buffer, position: number): Promise<number> {
    return this.files.on((file.flags & fsConstants.O_APPEND) === 0, file, async (s, fh) => {
      let done = 0;
      while (done < data.length) {
        // libnfs may re-read the buffer on a short-write retry: a slice keeps `data` referenced until the callback.
        const chunk = data.subarray(done, done + s.writeMax);
        const n = await s.ctx.call('write', (cb, id) => s.ctx.library.pwrite_async(s.ctx.raw, fh, position + done, chunk.length, chunk, cb, id), (_d, count) => count);
        if (n <= 0) throw SysError.of('EIO', 'write', undefined, { detail: 'the server wrote nothing' });
        done += n;
      }
      file.wrote(s);
      return done;
    });
  }

  /** Throws EIO if writes to `file` may have been lost with a connection (see NfsFile.checkWritesKept). */
  checkWritesKept(file: NfsFile, forget = false): void {
    file.checkWritesKept(forget);
  }

  async fsync(file: NfsFile): Promise<void> {
    await this.files.on(true, file, (s, fh) => s.ctx.call('fsync', (cb, id) => s.ctx.library.fsync_async(s.ctx.raw, fh, cb, id), () => undefined));
    file.committed();
  }

  ftruncate(file: NfsFile, size: number): Promise<void> {
    return this.files.on(true, file, (s, fh) => s.ctx.call('truncate', (cb, id) => s.ctx.library.ftruncate_async(s.ctx.raw, fh, size, cb, id), () => undefined));
  }

  /** Sets the size of the file at `path` (NFSv4: without an OPEN, see setAttributes). */
  truncate(path: string, size: number): Promise<void> {
    if (this.protocol === 4) return this.setAttributes(path, { size });
    return this.calls.call(true, 'truncate', (lib, raw, cb, id) => lib.truncate_async(raw, path, size, cb, id), () => undefined);
  }

  /**
   * NFSv4: a SETATTR by path, as raw RPCs (raw.ts): libnfs 4.0's own needs write access to the
   * file even for a chmod, cannot change a directory or symlink, and leaves its open sequence
   * out of step when refused. Sent again on a new connection (setting the same values twice
   * does no harm).
   */
  async setAttributes(path: string, attributes: Attributes): Promise<void> {
    if (this.protocol !== 4) throw SysError.of('EOPNOTSUPP', 'setattr', path, { detail: 'NFSv4 only' });
    return this.connection.run(true, (s) => setattrV4(s.ctx, path, attributes));
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.calls.call(false, 'mkdir', (lib, raw, cb, id) => lib.mkdir2_async(raw, path, mode, cb, id), () => undefined);
  }

  /** A FIFO, socket or device node (never sent twice: the first may have made it). */
  mknod(path: string, mode: number, rdev: number): Promise<void> {
    if (this.protocol === 4) return this.connection.run(false, (s) => mknodV4(s.ctx, path, mode, rdev));
    return this.calls.call(false, 'mknod', (lib, raw, cb, id) => lib.mknod_async(raw, path, mode, rdev, cb, id), () => undefined);
  }

  rmdir(path: string): Promise<void> {
    return this.calls.call(false, 'rmdir', (lib, raw, cb, id) => lib.rmdir_async(raw, path, cb, id), () => undefined);
  }

  unlink(path: string): Promise<void> {
    return this.calls.call(false, 'unlink', (lib, raw, cb, id) => lib.unlink_async(raw, path, cb, id), () => undefined);
  }

  /** Renames; the open files under `from` follow (they are opened again by path on a new connection). */
  async rename(from: string, to: string): Promise<void> {
    await this.calls.call(false, 'rename', (lib, raw, cb, id) => lib.rename_async(raw, from, to, cb, id), () => undefined);
    this.files.renamed(from, to);
  }

  /**
   * libnfs 4.0 cannot encode a SYMLINK whose target is longer than about 3.9 KiB (ENOMEM on v3,
   * EIO on v4): long ones are sent as raw RPCs with a buffer that fits them (raw.ts).
   */
  async symlink(target: string, path: string): Promise<void> {
    if (Buffer.byteLength(target) <= LIBNFS_SYMLINK_MAX) {
      return this.calls.call(false, 'symlink', (lib, raw, cb, id) => lib.symlink_async(raw, target, path, cb, id), () => undefined);
    }
    if (this.protocol === 4) return this.connection.run(false, (s) => symlinkV4(s.ctx, path, target));
    // NFSv3 names the directory by its file handle: libnfs keeps it in the listing it opens.
    const parent = posix.dirname(path);
    return this.connection.run(false, async (s) => {
      const dirFh = await s.ctx.call('symlink', (cb, id) => s.ctx.library.opendir_async(s.ctx.raw, parent, cb, id), (dir) => {
        try {
          return fileHandleBytes(s.ctx, dir);
        } finally {
          s.ctx.library.closedir(s.ctx.raw, dir);
        }
      });
      await symlinkV3(s.ctx, dirFh, posix.basename(path), target, path);
    });
  }

  link(existing: string, path: string): Promise<void> {
    return this.calls.call(false, 'link', (lib, raw, cb, id) => lib.link_async(raw, existing, path, cb, id), () => undefined);
  }

  /**
   * A symlink's target. libnfs 4.0 hands an NFSv4 target over without a NUL after it (seen as
   * stray bytes after the target, now and then), so on v4 it is cut at the link's size.
   */
  async readlink(path: string): Promise<string> {
    const size = this.protocol === 4 ? (await this.lstat(path)).size : undefined;
    const target = await this.calls.call(true, 'readlink', (lib, raw, cb, id) => lib.readlink_async(raw, path, cb, id), (s, data) => String(s.ctx.library.koffi.decode(data, 'char', -1)));
    return size === undefined ? target : Buffer.from(target).subarray(0, size).toString();
  }

  chmod(path: string, mode: number): Promise<void> {
    if (this.protocol === 4) return this.setAttributes(path, { mode });
    return this.calls.call(true, 'chmod', (lib, raw, cb, id) => lib.chmod_async(raw, path, mode, cb, id), () => undefined);
  }

  /** Owner and group; -1 leaves one as it is. */
  chown(path: string, uid: number, gid: number): Promise<void> {
    if (this.protocol === 4) return this.setAttributes(path, { uid, gid });
    return this.calls.call(true, 'chown', (lib, raw, cb, id) => lib.lchown_async(raw, path, uid, gid, cb, id), () => undefined);
  }

  /**
   * Access and modification times. 'now' is the server's clock, as utimensat(UTIME_NOW) means
   * it: then write access is enough, where setting a given time takes ownership. NFSv3 through
   * libnfs 4.0 sets both to the server's clock, or both to given times to the microsecond.
   */
  async utimes(path: string, atime: TimeUpdate, mtime: TimeUpdate): Promise<void> {
    if (this.protocol === 4) {
      return this.setAttributes(path, { ...(atime !== 'omit' ? { atime } : {}), ...(mtime !== 'omit' ? { mtime } : {}) });
    }
    if (atime === 'now' && mtime === 'now') {
      return this.calls.call(true, 'utimes', (lib, raw, cb, id) => lib.utimes_async(raw, path, null, cb, id), () => undefined);
    }
    const current = atime === 'omit' || mtime === 'omit' ? await this.lstat(path) : undefined;
    const pick = (t: TimeUpdate, old: Timespec | undefined): Timespec => (t === 'now' ? clientNow() : t === 'omit' ? old ?? clientNow() : t);
    const a = pick(atime, current?.atime);
    const m = pick(mtime, current?.mtime);
    const times = new BigInt64Array([BigInt(a.sec), BigInt(Math.floor(a.nsec / 1000)), BigInt(m.sec), BigInt(Math.floor(m.nsec / 1000))]);
    return this.calls.call(true, 'utimes', (lib, raw, cb, id) => lib.utimes_async(raw, path, times, cb, id), () => undefined);
  }

  statfs(path: string): Promise<StatFs> {
    return this.calls.call(true, 'statfs', (lib, raw, cb, id) => lib.statvfs_async(raw, path, cb, id), (s, data) => {
      // glibc's struct statvfs on 64-bit Linux: eleven 8-byte fields
      const v = Array.from(s.ctx.library.koffi.decode(data, 'uint64_t', 11) as ArrayLike<bigint | number>, Number);
      // f_namemax: libnfs's NFSv3 one is a made-up 256 (the server's PATHCONF answer is kept
      // instead); NFSv4's is the server's maxname attribute. Either is capped at NAME_MAX.
      const namemax = this.protocol === 3 ? s.nameMax : Math.min(v[10] || NAME_MAX, NAME_MAX);
      return { bsize: v[0] ?? 4096, frsize: v[1] ?? 4096, blocks: v[2] ?? 0, bfree: v[3] ?? 0, bavail: v[4] ?? 0, files: v[5] ?? 0, ffree: v[6] ?? 0, favail: v[7] ?? 0, namemax };
    });
  }

  /**
   * Every entry of a directory, with the attributes READDIRPLUS brought along. libnfs 4.0 leaves
   * an NFSv4 entry's file id unset (malloc'ed garbage): there the attributes come from a GETATTR
   * of each entry, sent all at once (an entry gone meanwhile is listed without them).
   */
  async readdir(path: string): Promise<Array<{ name: string; attr?: Attr }>> {
    const listed = await this.calls.call(true, 'readdir', (lib, raw, cb, id) => lib.opendir_async(raw, path, cb, id), (s, dir) => {
      const lib = s.ctx.library;
      const entries: Array<{ name: string; attr: Attr }> = [];
      try {
        for (let e = lib.readdir(s.ctx.raw, dir); e; e = lib.readdir(s.ctx.raw, dir)) {
          const d = lib.koffi.decode(e, lib.direntType) as Record<string, unknown>;
          if (d.name === '.' || d.name === '..') continue; // NFSv3 lists them, v4 does not; FUSE adds its own
          const t = (k: string, ns: string): Timespec => ({ sec: Number((d[k] as { sec: bigint }).sec), nsec: Number(d[ns] ?? 0) });
          entries.push({
            name: String(d.name),
            attr: {
              mode: Number(d.mode), nlink: Number(d.nlink), uid: Number(d.uid), gid: Number(d.gid), size: Number(d.size), ino: Number(d.inode),
              rdev: Number(d.rdev), blksize: Number(d.blksize) || 4096, blocks: Number(d.blocks) || Math.ceil(Number(d.used) / 512),
              atime: t('atime', 'atime_nsec'), mtime: t('mtime', 'mtime_nsec'), ctime: t('ctime', 'ctime_nsec'),
            },
          });
        }
      } finally {
        lib.closedir(s.ctx.raw, dir);
      }
      return entries;
    });
    if (this.protocol !== 4) return listed;
    const result: Array<{ name: string; attr?: Attr }> = listed.map(({ name }) => ({ name }));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < result.length) {
        const entry = result[next++]!;
        try {
          entry.attr = await this.lstat(posix.join(path, entry.name));
        } catch (err) {
          if (!(err instanceof SysError) || (err.code !== 'ENOENT' && err.code !== 'ESTALE')) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(READDIR_GETATTRS, result.length) }, worker));
    return result;
  }
}
