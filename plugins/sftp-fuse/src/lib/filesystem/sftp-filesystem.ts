import { SysError, type Attr, type DirEntry, type FileSystem, type OpenReply, type StatFs, type TimeUpdate } from '@kmx/core';
import type { Stats } from 'ssh2';
import type { Connection } from '../connection/connection.js';
import { UTIME_NOW, UTIME_OMIT, v3Seconds, type Timespec } from '../protocol/kmx-posix.js';
import type { SetAttrs, SftpSession } from '../protocol/session.js';
import { OpenFlag } from '../protocol/session.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, attrFromStats, estimatedBlocks, fromV3, kmxRecord, type IdMap } from './attrs.js';
import { MetadataCache, childOf } from './cache.js';
import { OpenFile, OpenFiles, sftpOpenFlags } from './open-file.js';
import { SendGate } from './send-gate.js';
import { followLinks, statFollowing } from './symlinks.js';

export interface SftpFileSystemOptions {
  /** The remote directory mounted, absolute. */
  root: string;
  /** How long attributes and listings are trusted (0: never cached). */
  cacheTimeoutMs: number;
  /** Bytes of written data per open file that may wait for the server's answer. */
  writeBehindLimit: number;
  readOnly: boolean;
  /** Show what symlinks point to instead of the links (sshfs -o follow_symlinks). */
  followSymlinks: boolean;
  ids: IdMap;
  /**
   * The mounted directory's device, when the server speaks kmx's extension (kmx sftp serve):
   * attributes then carry link counts, inode numbers and nanosecond times (attrs.ts).
   */
  rootDev?: bigint | undefined;
}

const RENAME_NOREPLACE = 1;
/** Subdirectory listings fetched ahead of a walk at once. */
const PREFETCH_LIMIT = 16;
const PREFETCH_QUEUE = 4096;
/** How fresh attributes must be for a no-op chmod/chown to skip the server. */
const NO_OP_WINDOW_MS = 1000;
const RENAME_EXCHANGE = 2;
/** Attribute changes that may go behind a created file's writes (setAttributes). */
const CHANGES_BEHIND = new Set(['mode', 'times']);
const REOPEN_MASK = ~(OpenFlag.CREAT | OpenFlag.EXCL | OpenFlag.TRUNC);

function seconds(t: TimeUpdate, current: { sec: number }): number {
  if (t === 'now') return Math.floor(Date.now() / 1000);
  if (t === 'omit') return current.sec;
  return t.sec;
}

/** A time for kmx's extension: the value, or UTIME_NOW / UTIME_OMIT for the server to apply. */
function wireTime(t: TimeUpdate): Timespec {
  if (t === 'now') return { sec: 0, nsec: UTIME_NOW };
  if (t === 'omit') return { sec: 0, nsec: UTIME_OMIT };
  return t;
}

/**
 * A remote directory over SFTP as a kmx FileSystem. Metadata is cached (cache.ts), reads are
 * split into parallel requests, writes are write-behind (open-file.ts), and every request
 * goes through the Connection, which reconnects and decides what is retried.
 */
export class SftpFileSystem implements FileSystem {
  private readonly cache: MetadataCache;
  private readonly files = new OpenFiles();
  private readonly sendGate = new SendGate();
  /** Listings being fetched, by path (a reader and a prefetch share one request). */
  private readonly listings = new Map<string, Promise<DirEntry[]>>();
  private prefetching = 0;
  private readonly prefetchQueue: string[] = [];

  constructor(private readonly connection: Connection, private readonly options: SftpFileSystemOptions) {
    this.cache = new MetadataCache(options.cacheTimeoutMs);
  }

  private remote(path: string): string {
    const root = this.options.root;
    if (path === '/') return root;
    return root === '/' ? path : root + path;
  }

  private run<T>(repeatable: boolean, operation: (session: SftpSession) => Promise<T>): Promise<T> {
    return this.connection.run(repeatable, operation);
  }

  private attr(stats: Stats): Attr {
    return attrFromStats(stats, this.options.ids, this.options.rootDev);
  }

  /** Whether the server says what SFTP v3 cannot (kmx's extension): then its attributes are the truth. */
  private knowsAll(stats: Stats): boolean {
    return this.options.rootDev !== undefined && kmxRecord(stats) !== undefined;
  }

  /** Link counts, inode numbers and nanosecond times come from the server (for the engine's use_ino). */
  get inodeNumbers(): boolean {
    return this.options.rootDev !== undefined;
  }

  private readonly nowFn = (): Timespec => this.now();

  /** Now, as a change through the mount sets it: whole seconds over SFTP v3 (all it keeps). */
  private now(): Timespec {
    const ms = Date.now();
    return this.connection.live?.kmxPosix ? { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 } : { sec: Math.floor(ms / 1000), nsec: 0 };
  }

  /**
   * A change to `path` the server answers with "no such file": whatever the cache says about
   * it is stale (changed on the server behind the mount's back), so it is forgotten and the
   * next lookup asks the server. Otherwise an `rm -rf` of such a tree "succeeds" while
   * every name in it keeps answering EEXIST for the rest of the cache timeout.
   */
  private async changing<T>(path: string, change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } catch (err) {
      if (err instanceof SysError && err.code === 'ENOENT') this.cache.removed(path);
      throw err;
    }
  }

  private writable(syscall: string, path: string): void {
    if (this.options.readOnly) throw SysError.of('EROFS', syscall, path);
  }

  /**
   * Requests queued behind for `path` are sent before a request about its attributes, which
   * then follows them without waiting for their answers: the server takes requests in order.
   */
  private async sendQueued(path: string): Promise<void> {
    for (const file of this.files.ofPath(path)) await file.dispatched();
  }

  destroy(): void {
    this.connection.close();
  }

  async getattr(path: string, fh?: number): Promise<Attr> {
    const open = fh === undefined ? undefined : this.files.get(fh);
    if (open?.orphaned) {
      // Its path is another file's, or none: asked through the handle. Without a link count
      // from the server, the name that went was its only one (SFTP v3 counts one per file).
      const stats = await open.stat();
      const attr = this.attr(stats);
      if (!this.knowsAll(stats)) attr.nlink = 0;
      return attr;
    }
    const cached = this.cache.lookup(path);
    if (cached) return cached; // kept up to date by what goes behind (cache.written, setAttributes)
    if (cached === null) throw SysError.of('ENOENT', 'lstat', path);
    await this.sendQueued(path);
    const remote = this.remote(path);
    const stats = await this.run(true, (s) => (this.options.followSymlinks ? statFollowing(s, remote) : path === '/' ? s.stat(remote) : s.lstat(remote)));
    const attr = this.attr(stats);
    if (open) attr.size = Math.max(attr.size, open.pendingSize);
    this.cache.setAttr(path, attr);
    return attr;
  }

  readlink(path: string): Promise<string> {
    return this.run(true, (s) => s.readlink(this.remote(path)));
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const cached = this.cachedListing(path);
    if (cached) return cached;
    const listing = this.listings.get(path) ?? this.fetchListing(path);
    const entries = await listing;
    this.prefetchSubdirectories(path, entries);
    return entries;
  }

  /**
   * A walk (find, du, ls -R) reads the subdirectories of every directory it lists: ask for
   * their listings now, several at once, instead of one round trip after another. Only for
   * directories actually listed, a bounded number at a time, and only while the cache is on.
   */
  private prefetchSubdirectories(path: string, entries: readonly DirEntry[]): void {
    if (!this.cache.enabled) return;
    for (const e of entries) {
      if (e.attr && (e.attr.mode & S_IFMT) === 0o040000 && this.prefetchQueue.length < PREFETCH_QUEUE) this.prefetchQueue.push(childOf(path, e.name));
    }
    this.pumpPrefetch();
  }

  private pumpPrefetch(): void {
    while (this.prefetching < PREFETCH_LIMIT && this.prefetchQueue.length > 0) {
      const child = this.prefetchQueue.shift()!;
      if (this.listings.has(child) || this.cache.listing(child)) continue;
      this.prefetching++;
      this.fetchListing(child).catch(() => undefined).finally(() => {
        this.prefetching--;
        this.pumpPrefetch();
      });
    }
  }

  /** One listing request per directory at a time; its result fills the cache. */
  private fetchListing(path: string): Promise<DirEntry[]> {
    const listing = this.listDirectory(path).finally(() => this.listings.delete(path));
    this.listings.set(path, listing);
    return listing;
  }

  private async listDirectory(path: string): Promise<DirEntry[]> {
    const list = await this.run(true, (s) => s.readdir(this.remote(path)));
    const entries = list.filter((e) => e.name !== '.' && e.name !== '..').map((e) => ({ name: e.name, attr: this.attr(e.attrs) }));
    if (this.options.followSymlinks) await followLinks(entries, (name) => this.run(true, (s) => s.stat(this.remote(childOf(path, name)))), (stats) => this.attr(stats));
    this.cache.setListing(path, entries);
    return entries;
  }

  /** A listing served from the cache when it and the attributes of every entry are fresh. */
  private cachedListing(path: string): DirEntry[] | undefined {
    const names = this.cache.listing(path);
    if (!names) return undefined;
    const entries: DirEntry[] = [];
    for (const name of names) {
      const attr = this.cache.lookup(childOf(path, name));
      if (!attr) return undefined;
      entries.push({ name, attr });
    }
    return entries;
  }

  /**
   * A regular file (an exclusive open and close); FIFOs and sockets only where the server
   * speaks kmx's extension (never device nodes: kmx sftp serve refuses them), EPERM elsewhere.
   */
  async mknod(path: string, mode: number, rdev: number): Promise<void> {
    this.writable('mknod', path);
    const remote = this.remote(path);
    if ((mode & S_IFMT) === S_IFREG) {
      await this.run(false, async (s) => s.closeHandle(await s.open(remote, OpenFlag.WRITE | OpenFlag.CREAT | OpenFlag.EXCL, { mode: mode & 0o7777 }), remote));
      this.cache.added(path);
      return;
    }
    // The stat rides along, as with mkdir.
    const [, stats] = await this.run(false, (s) => Promise.all([s.mknod(remote, mode, rdev), s.lstat(remote)]));
    this.cache.added(path, this.attr(stats));
  }

  async mkdir(path: string, mode: number): Promise<void> {
    this.writable('mkdir', path);
    const remote = this.remote(path);
    // The stat rides along (the server answers in order): the engine asks for it next.
    const [, stats] = await this.run(false, (s) => Promise.all([s.mkdir(remote, mode & 0o7777), s.lstat(remote)]));
    this.cache.removed(path); // anything still cached beneath the name is stale: the directory is new
    this.cache.added(path, this.attr(stats));
    this.cache.setListing(path, []); // new and empty: lookups inside need no round trip
  }

  async unlink(path: string): Promise<void> {
    this.writable('unlink', path);
    const remote = this.remote(path);
    // With kmx's extension, what the name was rides ahead of the unlink: the file's other names
    // (if any) lost a link and their ctime moved.
    const [was] = await this.changing(path, () => this.run(false, (s) => Promise.all([
      s.kmxPosix && !this.cache.lookup(path) ? s.lstat(remote).catch(() => undefined) : Promise.resolve(undefined),
      s.unlink(remote),
    ])));
    this.cache.forgetFile((was ? this.attr(was) : this.cache.lookup(path))?.ino);
    this.cache.removed(path);
    for (const file of this.files.ofPath(path)) file.orphaned = true;
  }

  async rmdir(path: string): Promise<void> {
    this.writable('rmdir', path);
    await this.changing(path, () => this.run(false, (s) => s.rmdir(this.remote(path))));
    this.cache.removed(path);
  }

  async symlink(target: string, path: string): Promise<void> {
    this.writable('symlink', path);
    await this.run(false, (s) => s.symlink(target, this.remote(path)));
    this.cache.added(path);
  }

  async rename(from: string, to: string, flags: number): Promise<void> {
    this.writable('rename', to);
    if (flags & RENAME_EXCHANGE) throw SysError.of('EINVAL', 'rename', to, { detail: 'SFTP cannot exchange two files' });
    const [src, dst] = [this.remote(from), this.remote(to)];
    await this.changing(from, () => this.run(false, async (s) => {
      if (flags & RENAME_NOREPLACE || !s.hasExtension('posix-rename@openssh.com')) {
        try {
          return await s.rename(src, dst, false);
        } catch (err) {
          // Plain SFTP rename refuses an existing target; POSIX replaces it (sshfs's workaround=rename).
          if (flags & RENAME_NOREPLACE || !(err instanceof SysError) || (err.code !== 'EEXIST' && err.code !== 'EPERM')) throw err;
          await s.unlink(dst);
          return s.rename(src, dst, false);
        }
      }
      return s.rename(src, dst, true);
    })).catch((err: unknown) => {
      // OpenSSH's sftp-server says only FAILURE, which a rename maps to EEXIST; over an existing
      // directory (the kernel has ruled out a file) that is one that is not empty, as Linux says.
      const target = this.cache.lookup(to);
      if (err instanceof SysError && err.code === 'EEXIST' && !(flags & RENAME_NOREPLACE) && target && (target.mode & S_IFMT) === S_IFDIR) throw SysError.of('ENOTEMPTY', 'rename', to);
      throw err;
    });
    const moved = this.cache.lookup(from);
    const replaced = this.cache.lookup(to);
    // Two names of one file (inode numbers known: kmx's extension): rename does nothing.
    if (moved && replaced && !fromV3(moved) && moved.ino === replaced.ino) return;
    this.cache.forgetFile(moved?.ino);
    this.cache.forgetFile(replaced?.ino);
    this.cache.removed(from);
    this.cache.removed(to);
    // The file's ctime moved (renames change it), which SFTP v3 does not show: kept only then.
    this.cache.added(to, moved && (moved.mode & S_IFMT) !== S_IFDIR && fromV3(moved) ? moved : undefined);
    for (const file of this.files.ofPath(to)) file.orphaned = true; // replaced
    this.files.moved(from, to);
  }

  async link(existing: string, path: string): Promise<void> {
    this.writable('link', path);
    const remote = this.remote(path);
    // With kmx's extension, the file's attributes after it ride along: its new link count, for every name.
    const [, stats] = await this.run(false, (s) => {
      if (!s.hasExtension('hardlink@openssh.com')) throw SysError.of('EPERM', 'link', path, { detail: 'the server has no hardlink@openssh.com' });
      return Promise.all([s.link(this.remote(existing), remote), s.kmxPosix ? s.lstat(remote) : Promise.resolve(undefined)]);
    });
    const attr = stats && this.attr(stats);
    this.cache.forgetFile(attr?.ino);
    this.cache.changed(existing);
    this.cache.added(path, attr);
    if (attr) this.cache.setAttr(existing, attr);
  }

  /**
   * setstat of a path, or of the link itself when it is a symlink (SFTP's setstat follows links).
   * A change of mode or times to a file this mount created and still has open for writing
   * goes behind its writes like one more write, and is answered at once (tar and cp -p set them
   * right before close: one round trip per file less). Its owner may always make them, so
   * only a broken connection or an odd server fails them; that is reported by the file's next
   * flush, fsync or close, as a failed write is. Not chown: cp -p ignores its EPERM, which
   * would come back at close instead.
   */
  private async setAttributes(path: string, fh: number | undefined, attrs: SetAttrs, local: Partial<Attr> = {}): Promise<void> {
    this.writable('setattr', path);
    // A truncate cuts the open files of the path, or only the orphan it came through (whose
    // old path may name another file now). Writes before it land before it; those after it
    // follow it (and count again).
    const own = fh === undefined ? undefined : this.files.get(fh);
    const orphan = own?.orphaned === true;
    const size = attrs.size;
    const cut = size === undefined ? [] : own && orphan ? [own] : this.files.ofPath(path);
    if (size !== undefined) for (const file of cut) file.truncated(size);
    const remote = this.remote(path);
    const behind = Object.keys(attrs).every((name) => CHANGES_BEHIND.has(name))
      ? (own ? [own] : this.files.ofPath(path)).find((f) => f.takesChangesBehind)
      : undefined;
    // Where the server speaks kmx's extension, the attributes after the change ride along with
    // it (the server answers in order): the engine asks for them next, and they are the truth
    // (ctime, the server's clock, what a chown cleared).
    const withStat = async (s: SftpSession, change: Promise<void>, stat: () => Promise<Stats>): Promise<Stats | undefined> => {
      if (!s.kmxPosix) return change.then(() => undefined);
      const [, stats] = await Promise.all([change, stat()]);
      return stats;
    };
    let after: Stats | undefined;
    if (behind) {
      behind.changeBehind(attrs);
    } else if (own) {
      after = await own.withHandle(true, (s, handle) => withStat(s, s.fsetstat(handle, attrs, remote), () => s.fstat(handle, remote)));
    } else {
      await this.sendQueued(path);
      const current = this.cache.lookup(path);
      const isLink = current ? (current.mode & S_IFMT) === S_IFLNK : false;
      after = await this.changing(path, () => this.run(true, async (s) => {
        if (!isLink) return withStat(s, s.setstat(remote, attrs), () => s.lstat(remote));
        // A symlink's own mode and times: lsetstat where the server has it, else nothing to do.
        if (s.hasExtension('lsetstat@openssh.com')) return withStat(s, s.lsetstat(remote, attrs), () => s.lstat(remote));
        return undefined;
      }));
    }
    for (const file of cut) file.invalidate(); // what was read ahead may be gone now
    // The engine asks for the attributes right after a change: answer from what we know
    // (not for an orphan, whose old path may be another file's now).
    if (orphan) return;
    if (after) {
      const attr = this.attr(after);
      if (own) attr.size = Math.max(attr.size, own.pendingSize);
      this.cache.setAttr(path, attr);
      return;
    }
    const before = this.cache.lookup(path);
    if (!before) {
      this.cache.changed(path);
      return;
    }
    const next: Attr = { ...before, ...local, mode: local.mode === undefined ? before.mode : (before.mode & S_IFMT) | local.mode };
    if (size !== undefined) {
      next.blocks = estimatedBlocks(size);
      if (local.mtime === undefined) next.mtime = this.now(); // a truncate moves the mtime
    }
    // SFTP v3 has no ctime: it is the mtime there (as sshfs shows it); with kmx's extension, now.
    next.ctime = fromV3(next) ? next.mtime : this.now();
    this.cache.setAttr(path, next);
  }

  /**
   * A chmod or chown that changes nothing, on a file whose attributes the server gave us a
   * moment ago (tar's chown and chmod right after creating a file, typically), is answered
   * without a round trip. Not for setuid/setgid files, whose bits a chown would clear.
   */
  private unchanged(path: string, change: (attr: Attr) => boolean): boolean {
    const attr = this.cache.recent(path, NO_OP_WINDOW_MS);
    return attr !== undefined && (attr.mode & 0o6000) === 0 && (attr.mode & S_IFMT) !== S_IFLNK && change(attr);
  }

  async chmod(path: string, mode: number, fh?: number): Promise<void> {
    this.writable('chmod', path);
    if (this.unchanged(path, (a) => (a.mode & 0o7777) === (mode & 0o7777))) return;
    await this.setAttributes(path, fh, { mode: mode & 0o7777 }, { mode: mode & 0o7777 });
  }

  async chown(path: string, uid: number, gid: number, fh?: number): Promise<void> {
    const current = uid === -1 || gid === -1 ? await this.getattr(path, fh) : undefined;
    const ids = this.options.ids;
    const localUid = uid === -1 ? current!.uid : uid;
    const localGid = gid === -1 ? current!.gid : gid;
    this.writable('chown', path);
    if (this.unchanged(path, (a) => a.uid === localUid && a.gid === localGid)) return;
    await this.setAttributes(path, fh, { uid: ids.remoteUid(localUid), gid: ids.remoteGid(localGid) }, { uid: localUid, gid: localGid });
  }

  async truncate(path: string, size: number, fh?: number): Promise<void> {
    await this.setAttributes(path, fh, { size }, { size });
  }

  /**
   * With kmx's extension, nanoseconds and the times "now" and "unchanged" go to the server as
   * such. Over SFTP v3, whole seconds, as an unsigned 32-bit number (the cache says what the
   * server will have: a time before 1970 or after 2106 comes back wrapped, as with sshfs).
   */
  async utimens(path: string, atime: TimeUpdate, mtime: TimeUpdate, fh?: number): Promise<void> {
    if (this.connection.live?.kmxPosix) {
      const now = this.now();
      const local: Partial<Attr> = {};
      if (atime !== 'omit') local.atime = atime === 'now' ? now : atime;
      if (mtime !== 'omit') local.mtime = mtime === 'now' ? now : mtime;
      await this.setAttributes(path, fh, { times: [wireTime(atime), wireTime(mtime)] }, local);
      return;
    }
    const current = atime === 'omit' || mtime === 'omit' ? await this.getattr(path, fh) : undefined;
    const a = v3Seconds(seconds(atime, current?.atime ?? { sec: 0 }));
    const m = v3Seconds(seconds(mtime, current?.mtime ?? { sec: 0 }));
    await this.setAttributes(path, fh, { times: [{ sec: a, nsec: 0 }, { sec: m, nsec: 0 }] }, { atime: { sec: a, nsec: 0 }, mtime: { sec: m, nsec: 0 } });
  }

  async open(path: string, flags: number): Promise<OpenReply> {
    const pflags = sftpOpenFlags(flags);
    if (pflags & (OpenFlag.WRITE | OpenFlag.TRUNC)) this.writable('open', path);
    const remote = this.remote(path);
    const handle = await this.changing(path, () => this.run(!(pflags & OpenFlag.EXCL), (s) => s.open(remote, pflags)));
    const file = new OpenFile(this.connection, path, pflags & REOPEN_MASK, this.options.writeBehindLimit, this.sendGate, (p) => this.remote(p));
    file.opened(handle);
    if (pflags & OpenFlag.TRUNC) this.cache.changed(path);
    return { fh: this.files.add(file) };
  }

  async create(path: string, mode: number, flags: number): Promise<OpenReply> {
    this.writable('create', path);
    const pflags = sftpOpenFlags(flags) | OpenFlag.CREAT;
    const remote = this.remote(path);
    // The stat rides along with the open (the server answers in order): the engine asks for it next.
    const [handle, stats] = await this.run(false, (s) => Promise.all([s.open(remote, pflags, { mode: mode & 0o7777 }), s.lstat(remote)]));
    const file = new OpenFile(this.connection, path, pflags & REOPEN_MASK, this.options.writeBehindLimit, this.sendGate, (p) => this.remote(p), true);
    file.opened(handle);
    this.cache.added(path, this.attr(stats));
    return { fh: this.files.add(file) };
  }

  read(_path: string, fh: number, buffer: Buffer, position: number): number | Promise<number> {
    return this.files.get(fh).read(buffer, position);
  }

  write(path: string, fh: number, data: Buffer, position: number): number | Promise<number> {
    this.writable('write', path);
    const file = this.files.get(fh);
    if (!file.orphaned) {
      this.cache.written(path, position + data.length, this.nowFn);
      for (const other of this.files.ofPath(path)) if (other !== file) other.invalidate();
    }
    const written = file.write(data, position);
    return typeof written === 'number' ? written : this.reporting(path, written);
  }

  async flush(path: string, fh: number): Promise<void> {
    await this.reporting(path, this.files.get(fh).flush());
  }

  async fsync(path: string, fh: number): Promise<void> {
    await this.reporting(path, this.files.get(fh).fsync());
  }

  /** A write or change sent behind failed: what the cache says of the file is unconfirmed. */
  private async reporting<T>(path: string, settled: Promise<T>): Promise<T> {
    try {
      return await settled;
    } catch (err) {
      this.cache.changed(path);
      throw err;
    }
  }

  async release(path: string, fh: number): Promise<void> {
    const file = this.files.get(fh);
    this.files.remove(fh);
    await this.reporting(path, file.release());
  }

  async statfs(): Promise<StatFs> {
    return this.run(true, async (s) => {
      if (!s.hasExtension('statvfs@openssh.com', '2')) {
        // What sshfs reports when the server cannot tell: plenty of room.
        return { bsize: 4096, frsize: 4096, blocks: 1e9, bfree: 1e9, bavail: 1e9, files: 1e9, ffree: 1e9, namemax: 255 };
      }
      const v = await s.statvfs(this.options.root);
      return { bsize: v.f_bsize, frsize: v.f_frsize, blocks: v.f_blocks, bfree: v.f_bfree, bavail: v.f_bavail, files: v.f_files, ffree: v.f_ffree, favail: v.f_favail, namemax: v.f_namemax };
    });
  }
}
