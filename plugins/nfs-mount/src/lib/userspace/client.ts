import { constants as fsConstants } from 'node:fs';
import { posix } from 'node:path';
import type { Attr, StatFs, TimeUpdate, Timespec } from '@kmx/core';
import { KmxError, SysError, renamedPath } from '@kmx/core';
import type { LibNfs, Pointer } from './bindings.js';
import { NfsConnection, type ConnectionState, type Mounted, type Session } from './connection.js';
import { ConnectionLost, NfsContext, NfsStateError, type NfsConnectOptions } from './driver.js';
import { fileHandleBytes, LIBNFS_SYMLINK_MAX, mknodV4, nameMaxV3, setattrV4, symlinkV3, symlinkV4, type Attributes } from './raw.js';

// NFS operations as promises, over an event-loop-driven libnfs context that is made again when
// the connection breaks (connection.ts). Paths are relative to the mounted export ('/' is its
// root). Within libnfs 4.0's limits: NFSv4 means 4.0, its writes are capped at 2 KiB per call
// and its reads at 1 MiB (larger ones kill the context). One client sends everything as one
// user (AUTH_SYS); a shared mount has one per user (pool.ts).

export type NfsProtocol = 3 | 4;

/**
 * libnfs 4.0 encodes an NFSv4 WRITE into its 4 KiB request buffer with everything else, the
 * credential included (measured with 16 supplementary groups: 3900 bytes of data fit, 4000 not).
 */
const V4_WRITE_MAX = 2048;
/** NFSv4 GETATTRs of a listing's entries in flight at once. */
const READDIR_GETATTRS = 64;
/** Linux's NAME_MAX: a longer name cannot be listed (struct dirent), whatever a server says (the kernel's client caps it too). */
const NAME_MAX = 255;
const V4_READ_MAX = 1024 * 1024;
const V3_MAX = 1024 * 1024;
const O_ACCMODE = 3;
/** What an open keeps when it is opened again on a new connection. */
const REOPEN_FLAGS = O_ACCMODE | fsConstants.O_APPEND;

function timespec(sec: bigint | number, nsec: bigint | number): Timespec {
  return { sec: Number(sec), nsec: Number(nsec) };
}

function clientNow(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

/**
 * An open file. Its libnfs handle belongs to one connection: on a new one the file is opened
 * again by its (current) path before its next use, with the access it was opened with.
 */
export class NfsFile {
  /** Writes were acknowledged on this connection and not yet committed (fsync). */
  unsynced: Session | undefined;
  reopening: Promise<Pointer> | undefined;
  constructor(public path: string, readonly flags: number, public fh: Pointer, public session: Session) {}
}

/** A handle of an open file. */
export type NfsHandle = NfsFile;

export interface NfsClientOptions extends NfsConnectOptions {
  protocol: NfsProtocol;
  log?: (line: string) => void;
  onState?: (state: ConnectionState) => void;
  /** Ask an idle connection something every few seconds (default true). */
  probe?: boolean;
}

/** Connects and mounts the export named by `url` (nfs://host/export?version=…&nfsport=…): one connection. */
async function mountExport(options: NfsClientOptions, track: (ctx: NfsContext) => void = () => undefined): Promise<Mounted> {
  const ctx = new NfsContext(options);
  track(ctx);
  try {
    const lib = ctx.library;
    const url = lib.parse_url_dir(ctx.raw, options.url);
    if (!url) throw new KmxError(`bad NFS URL ${options.url}: ${ctx.error()}`, { exitCode: 2 });
    const parsed = lib.koffi.decode(url, lib.urlType) as { server: string; path: string };
    const server = String(parsed.server);
    const path = String(parsed.path);
    lib.destroy_url(url);
    await ctx.call('mount', (cb, id) => lib.mount_async(ctx.raw, server, path, cb, id), () => undefined);
    lib.umask(ctx.raw, 0); // the kernel already applied the caller's umask to FUSE modes
    const readmax = Number(lib.get_readmax(ctx.raw));
    const writemax = Number(lib.get_writemax(ctx.raw));
    // NFSv3: libnfs says 256 whatever the server takes; ask the server (NFSv4's statvfs asks it itself).
    const nameMax = options.protocol === 3 ? await nameMaxV3(ctx).catch((err: unknown) => {
      if (err instanceof ConnectionLost) throw err;
      return NAME_MAX;
    }) : NAME_MAX;
    return {
      ctx,
      readMax: options.protocol === 4 ? V4_READ_MAX : Math.min(readmax || V3_MAX, V3_MAX),
      writeMax: options.protocol === 4 ? V4_WRITE_MAX : Math.min(writemax || V3_MAX, V3_MAX),
      nameMax: Math.min(nameMax || NAME_MAX, NAME_MAX),
    };
  } catch (err) {
    ctx.close();
    throw err;
  }
}

export class NfsClient {
  private readonly connection: NfsConnection;
  /** Files open now, whose paths follow renames (a reopen on a new connection goes by path). */
  private readonly files = new Set<NfsFile>();

  /** NFSv4.0 OPEN/CLOSE carry the open-owner's sequence id: libnfs 4.0 needs them one at a time. */
  private sequenced: Promise<unknown> = Promise.resolve();

  private constructor(first: Mounted, readonly protocol: NfsProtocol, options: NfsClientOptions) {
    this.connection = new NfsConnection(first, {
      open: (track) => mountExport(options, track),
      timeoutMs: options.timeoutMs,
      log: options.log ?? (() => undefined),
      ...(options.onState ? { onState: options.onState } : {}),
      ...(options.probe === false ? { probeMs: 0 } : {}),
    }, (session) => this.statOn(session, '/'));
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

  private lib(session: Session): LibNfs {
    return session.ctx.library;
  }

  private attr(session: Session, data: Pointer): Attr {
    const lib = this.lib(session);
    const s = lib.koffi.decode(data, lib.statType) as Record<string, bigint | number>;
    const n = (k: string): number => Number(s[k] ?? 0);
    return {
      mode: n('mode'), nlink: n('nlink'), uid: n('uid'), gid: n('gid'), size: n('size'), ino: n('ino'), rdev: n('rdev'),
      blksize: n('blksize') || 4096, blocks: n('blocks') || Math.ceil(n('used') / 512),
      atime: timespec(s.atime ?? 0, s.atime_nsec ?? 0), mtime: timespec(s.mtime ?? 0, s.mtime_nsec ?? 0), ctime: timespec(s.ctime ?? 0, s.ctime_nsec ?? 0),
    };
  }

  /** Runs `op` after every earlier OPEN/CLOSE has finished (v4 only; v3 has no open state). */
  private inSequence<T>(op: () => Promise<T>): Promise<T> {
    if (this.protocol !== 4) return op();
    const run = this.sequenced.then(op, op);
    this.sequenced = run.catch(() => undefined);
    return run;
  }

  /**
   * One call on the live connection (`repeatable`: sent again on a new one if this one breaks
   * under it). `stateful`: an NFSv4 OPEN, which carries the open-owner's sequence number:
   * refused, it leaves libnfs 4.0's count behind the server's (the server counts a refused OPEN,
   * libnfs does not), and every later OPEN would fail (BAD_SEQID); or libnfs refused it after
   * the server had opened the file ("Insufficient ACCESS"), and that open is left behind. So the
   * client starts afresh (connection.ts renew).
   */
  private call<T>(repeatable: boolean, what: string, start: (lib: LibNfs, raw: Pointer, cb: bigint, id: Pointer) => number, onData: (session: Session, data: Pointer, result: number) => T, stateful = false): Promise<T> {
    return this.connection.run(repeatable, async (s) => {
      try {
        return await s.ctx.call(what, (cb, id) => start(this.lib(s), s.ctx.raw, cb, id), (data, result) => onData(s, data, result));
      } catch (err) {
        if (stateful) this.afterRefusal(s, what, err);
        throw err;
      }
    });
  }

  /** An NFSv4 OPEN was refused on `session` (see call): start afresh. */
  private afterRefusal(session: Session, what: string, err: unknown): void {
    if (this.protocol !== 4 || err instanceof ConnectionLost || err instanceof NfsStateError) return;
    this.connection.renew(session, `a refused ${what.toUpperCase()} may have put the NFSv4 open sequence out of step`, true);
  }

  private statOn(session: Session, path: string): Promise<Attr> {
    return session.ctx.call('lstat', (cb, id) => this.lib(session).lstat64_async(session.ctx.raw, path, cb, id), (data) => this.attr(session, data));
  }

  /**
   * The handle of `file` on `session`: opened again by its path when it was opened on an
   * earlier connection (once, however many calls ask; on v4 in the open sequence).
   */
  private handleOn(file: NfsFile, session: Session): Promise<Pointer> | Pointer {
    if (file.session === session) return file.fh;
    if (!this.files.has(file)) throw SysError.of('EBADF', 'nfs', file.path, { detail: 'the file is closed' });
    file.reopening ??= this.inSequence(() => session.ctx.call('open', (cb, id) => this.lib(session).open_async(session.ctx.raw, file.path, file.flags, cb, id), (data) => {
      if (!data) throw SysError.of('EIO', 'open', file.path, { detail: 'no handle' });
      return data;
    }).catch((err: unknown) => {
      this.afterRefusal(session, 'open', err);
      throw err;
    })).then((fh) => {
      file.fh = fh;
      file.session = session;
      return fh;
    }, (err: unknown) => {
      if (err instanceof ConnectionLost || err instanceof NfsStateError) throw err;
      // Gone from the server meanwhile, say: what was open is no longer there.
      throw SysError.of('EIO', 'open', file.path, { detail: `cannot open it again after reconnecting: ${err instanceof Error ? err.message : String(err)}` });
    }).finally(() => {
      file.reopening = undefined;
    });
    return file.reopening;
  }

  /** A call on an open file, opened again first if the connection is new. */
  private onFile<T>(repeatable: boolean, file: NfsFile, op: (session: Session, fh: Pointer) => Promise<T>): Promise<T> {
    return this.connection.run(repeatable, async (s) => op(s, await this.handleOn(file, s)));
  }

  lstat(path: string): Promise<Attr> {
    return this.connection.run(true, (s) => this.statOn(s, path));
  }

  /** The attributes of an open file, by its handle: it may have no name left on the server. */
  fstat(file: NfsFile): Promise<Attr> {
    return this.onFile(true, file, (s, fh) => s.ctx.call('fstat', (cb, id) => this.lib(s).fstat64_async(s.ctx.raw, fh, cb, id), (data) => this.attr(s, data)));
  }

  private opened(path: string, flags: number, session: Session, fh: Pointer): NfsFile {
    if (!fh) throw SysError.of('EIO', 'open', path, { detail: 'no handle' });
    const file = new NfsFile(path, flags & REOPEN_FLAGS, fh, session);
    this.files.add(file);
    return file;
  }

  /** Opens an existing file (sent again on a new connection if this one breaks: opening twice does no harm). */
  open(path: string, flags: number): Promise<NfsFile> {
    return this.inSequence(() => this.call(true, 'open', (lib, raw, cb, id) => lib.open_async(raw, path, flags, cb, id), (s, data) => this.opened(path, flags, s, data), true));
  }

  /** Creates a file (never sent twice: the first may have made it). */
  create(path: string, flags: number, mode: number): Promise<NfsFile> {
    return this.inSequence(() => this.call(false, 'create', (lib, raw, cb, id) => lib.create_async(raw, path, flags, mode, cb, id), (s, data) => this.opened(path, flags, s, data), true));
  }

  /** Closes an open file. On a connection that is gone there is nothing left to close. */
  close_(file: NfsFile): Promise<void> {
    if (!this.files.delete(file)) return Promise.resolve();
    return this.inSequence(async () => {
      await file.reopening?.catch(() => undefined);
      const session = this.connection.live;
      if (file.session !== session || session === undefined) return;
      await session.ctx.call('close', (cb, id) => this.lib(session).close_async(session.ctx.raw, file.fh, cb, id), () => undefined).catch((err: unknown) => {
        if (err instanceof ConnectionLost) {
          this.connection.lost(session, err.reason); // and the server's state of the open went with it
          return;
        }
        if (this.protocol !== 4) throw err;
        // A CLOSE refused (the file removed on the server, say: STALE) leaves libnfs's open
        // sequence a step ahead; a fresh client drops whatever the server still had open.
        if (err instanceof NfsStateError) this.connection.renew(session, `the server refused its NFSv4 state (NFS4ERR_${err.status})`);
        else this.connection.renew(session, 'a refused CLOSE put the NFSv4 open sequence out of step', true);
      });
    });
  }

  /** Reads into `target` from `position`, in calls of at most readMax; the bytes read (short only at EOF). */
  read(file: NfsFile, target: Buffer, position: number): Promise<number> {
    return this.onFile(true, file, async (s, fh) => {
      let done = 0;
      while (done < target.length) {
        const want = Math.min(s.readMax, target.length - done);
        const n = await s.ctx.call('read', (cb, id) => this.lib(s).pread_async(s.ctx.raw, fh, position + done, want, cb, id), (data, count) => {
          if (count > 0) this.lib(s).memcpy(target.subarray(done, done + count), data, count); // copy now: libnfs reuses its buffer
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
    return this.onFile((file.flags & fsConstants.O_APPEND) === 0, file, async (s, fh) => {
      let done = 0;
      while (done < data.length) {
        // libnfs may re-read the buffer on a short-write retry: a slice keeps `data` referenced until the callback.
        const chunk = data.subarray(done, done + s.writeMax);
        const n = await s.ctx.call('write', (cb, id) => this.lib(s).pwrite_async(s.ctx.raw, fh, position + done, chunk.length, chunk, cb, id), (_d, count) => count);
        if (n <= 0) throw SysError.of('EIO', 'write', undefined, { detail: 'the server wrote nothing' });
        done += n;
      }
      if (!file.unsynced?.lost) file.unsynced = s;
      return done;
    });
  }

  /**
   * Throws EIO if writes to `file` were acknowledged on a connection that broke before they
   * were committed: a server that restarted may have lost them (the kernel's client sends them
   * again; libnfs keeps no copy to send). As a local filesystem reports a lost write-back: every
   * close says so, and the next fsync (then it is forgotten). A close is not enough to forget
   * it: every exec of a process that inherited the descriptor closes it too.
   */
  checkWritesKept(file: NfsFile, forget = false): void {
    if (!file.unsynced?.lost) return;
    if (forget) file.unsynced = undefined;
    throw SysError.of('EIO', 'write', file.path, { detail: 'writes made before the connection to the NFS server was lost may not have reached its disk' });
  }

  async fsync(file: NfsFile): Promise<void> {
    await this.onFile(true, file, (s, fh) => s.ctx.call('fsync', (cb, id) => this.lib(s).fsync_async(s.ctx.raw, fh, cb, id), () => undefined));
    this.checkWritesKept(file, true);
    file.unsynced = undefined;
  }

  ftruncate(file: NfsFile, size: number): Promise<void> {
    return this.onFile(true, file, (s, fh) => s.ctx.call('truncate', (cb, id) => this.lib(s).ftruncate_async(s.ctx.raw, fh, size, cb, id), () => undefined));
  }

  /** Sets the size of the file at `path` (NFSv4: without an OPEN, see setAttributes). */
  truncate(path: string, size: number): Promise<void> {
    if (this.protocol === 4) return this.setAttributes(path, { size });
    return this.call(true, 'truncate', (lib, raw, cb, id) => lib.truncate_async(raw, path, size, cb, id), () => undefined);
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
    return this.call(false, 'mkdir', (lib, raw, cb, id) => lib.mkdir2_async(raw, path, mode, cb, id), () => undefined);
  }

  /** A FIFO, socket or device node (never sent twice: the first may have made it). */
  mknod(path: string, mode: number, rdev: number): Promise<void> {
    if (this.protocol === 4) return this.connection.run(false, (s) => mknodV4(s.ctx, path, mode, rdev));
    return this.call(false, 'mknod', (lib, raw, cb, id) => lib.mknod_async(raw, path, mode, rdev, cb, id), () => undefined);
  }

  rmdir(path: string): Promise<void> {
    return this.call(false, 'rmdir', (lib, raw, cb, id) => lib.rmdir_async(raw, path, cb, id), () => undefined);
  }

  unlink(path: string): Promise<void> {
    return this.call(false, 'unlink', (lib, raw, cb, id) => lib.unlink_async(raw, path, cb, id), () => undefined);
  }

  /** Renames; the open files under `from` follow (they are opened again by path on a new connection). */
  async rename(from: string, to: string): Promise<void> {
    await this.call(false, 'rename', (lib, raw, cb, id) => lib.rename_async(raw, from, to, cb, id), () => undefined);
    for (const file of this.files) file.path = renamedPath(file.path, from, to);
  }

  /**
   * libnfs 4.0 cannot encode a SYMLINK whose target is longer than about 3.9 KiB (ENOMEM on v3,
   * EIO on v4): long ones are sent as raw RPCs with a buffer that fits them (raw.ts).
   */
  async symlink(target: string, path: string): Promise<void> {
    if (Buffer.byteLength(target) <= LIBNFS_SYMLINK_MAX) {
      return this.call(false, 'symlink', (lib, raw, cb, id) => lib.symlink_async(raw, target, path, cb, id), () => undefined);
    }
    if (this.protocol === 4) return this.connection.run(false, (s) => symlinkV4(s.ctx, path, target));
    // NFSv3 names the directory by its file handle: libnfs keeps it in the listing it opens.
    const parent = posix.dirname(path);
    return this.connection.run(false, async (s) => {
      const dirFh = await s.ctx.call('symlink', (cb, id) => this.lib(s).opendir_async(s.ctx.raw, parent, cb, id), (dir) => {
        try {
          return fileHandleBytes(s.ctx, dir);
        } finally {
          this.lib(s).closedir(s.ctx.raw, dir);
        }
      });
      await symlinkV3(s.ctx, dirFh, posix.basename(path), target, path);
    });
  }

  link(existing: string, path: string): Promise<void> {
    return this.call(false, 'link', (lib, raw, cb, id) => lib.link_async(raw, existing, path, cb, id), () => undefined);
  }

  /**
   * A symlink's target. libnfs 4.0 hands an NFSv4 target over without a NUL after it (seen as
   * stray bytes after the target, now and then), so on v4 it is cut at the link's size.
   */
  async readlink(path: string): Promise<string> {
    const size = this.protocol === 4 ? (await this.lstat(path)).size : undefined;
    const target = await this.call(true, 'readlink', (lib, raw, cb, id) => lib.readlink_async(raw, path, cb, id), (s, data) => String(this.lib(s).koffi.decode(data, 'char', -1)));
    return size === undefined ? target : Buffer.from(target).subarray(0, size).toString();
  }

  chmod(path: string, mode: number): Promise<void> {
    if (this.protocol === 4) return this.setAttributes(path, { mode });
    return this.call(true, 'chmod', (lib, raw, cb, id) => lib.chmod_async(raw, path, mode, cb, id), () => undefined);
  }

  /** Owner and group; -1 leaves one as it is. */
  chown(path: string, uid: number, gid: number): Promise<void> {
    if (this.protocol === 4) return this.setAttributes(path, { uid, gid });
    return this.call(true, 'chown', (lib, raw, cb, id) => lib.lchown_async(raw, path, uid, gid, cb, id), () => undefined);
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
      return this.call(true, 'utimes', (lib, raw, cb, id) => lib.utimes_async(raw, path, null, cb, id), () => undefined);
    }
    const current = atime === 'omit' || mtime === 'omit' ? await this.lstat(path) : undefined;
    const pick = (t: TimeUpdate, old: Timespec | undefined): Timespec => (t === 'now' ? clientNow() : t === 'omit' ? old ?? clientNow() : t);
    const a = pick(atime, current?.atime);
    const m = pick(mtime, current?.mtime);
    const times = new BigInt64Array([BigInt(a.sec), BigInt(Math.floor(a.nsec / 1000)), BigInt(m.sec), BigInt(Math.floor(m.nsec / 1000))]);
    return this.call(true, 'utimes', (lib, raw, cb, id) => lib.utimes_async(raw, path, times, cb, id), () => undefined);
  }

  statfs(path: string): Promise<StatFs> {
    return this.call(true, 'statfs', (lib, raw, cb, id) => lib.statvfs_async(raw, path, cb, id), (s, data) => {
      // glibc's struct statvfs on 64-bit Linux: eleven 8-byte fields
      const v = Array.from(this.lib(s).koffi.decode(data, 'uint64_t', 11) as ArrayLike<bigint | number>, Number);
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
    const listed = await this.call(true, 'readdir', (lib, raw, cb, id) => lib.opendir_async(raw, path, cb, id), (s, dir) => {
      const lib = this.lib(s);
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
