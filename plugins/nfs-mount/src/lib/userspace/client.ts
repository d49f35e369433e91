import type { Attr, StatFs, Timespec } from '@kmx/core';
import { KmxError, SysError } from '@kmx/core';
import type { Pointer } from './bindings.js';
import { NfsContext, type NfsConnectOptions } from './driver.js';

// NFS operations as promises, over one event-loop-driven libnfs context. Paths are relative
// to the mounted export ('/' is its root). Within libnfs 4.0's limits: NFSv4 means 4.0, its
// writes are capped at 2 KiB per call and its reads at 1 MiB (larger ones kill the context).

export type NfsProtocol = 3 | 4;

/** A handle of an open file: libnfs's nfsfh pointer. */
export type NfsHandle = Pointer;

const V4_WRITE_MAX = 2048;
const V4_READ_MAX = 1024 * 1024;
const V3_MAX = 1024 * 1024;

function timespec(sec: bigint | number, nsec: bigint | number): Timespec {
  return { sec: Number(sec), nsec: Number(nsec) };
}

export class NfsClient {
  private readonly ctx: NfsContext;
  /** The largest read and write one call may carry. */
  readonly readMax: number;
  readonly writeMax: number;

  /** NFSv4.0 OPEN/CLOSE carry the open-owner's sequence id: libnfs 4.0 needs them one at a time. */
  private sequenced: Promise<unknown> = Promise.resolve();

  private constructor(ctx: NfsContext, readonly protocol: NfsProtocol) {
    this.ctx = ctx;
    const lib = ctx.library;
    const readmax = Number(lib.get_readmax(ctx.raw));
    const writemax = Number(lib.get_writemax(ctx.raw));
    this.readMax = protocol === 4 ? V4_READ_MAX : Math.min(readmax || V3_MAX, V3_MAX);
    this.writeMax = protocol === 4 ? V4_WRITE_MAX : Math.min(writemax || V3_MAX, V3_MAX);
  }

  /** Connects and mounts the export named by `url` (nfs://host/export?version=…&nfsport=…). */
  static async connect(options: NfsConnectOptions & { protocol: NfsProtocol }): Promise<NfsClient> {
    const ctx = new NfsContext(options);
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
      return new NfsClient(ctx, options.protocol);
    } catch (err) {
      ctx.close();
      throw err;
    }
  }

  close(): void {
    this.ctx.close();
  }

  private get lib() {
    return this.ctx.library;
  }

  private attr(data: Pointer): Attr {
    const s = this.lib.koffi.decode(data, this.lib.statType) as Record<string, bigint | number>;
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

  lstat(path: string): Promise<Attr> {
    return this.ctx.call('lstat', (cb, id) => this.lib.lstat64_async(this.ctx.raw, path, cb, id), (data) => this.attr(data));
  }

  open(path: string, flags: number): Promise<NfsHandle> {
    return this.inSequence(() => this.ctx.call('open', (cb, id) => this.lib.open_async(this.ctx.raw, path, flags, cb, id), (data) => {
      if (!data) throw SysError.of('EIO', 'open', path, { detail: 'no handle' });
      return data;
    }));
  }

  create(path: string, flags: number, mode: number): Promise<NfsHandle> {
    return this.inSequence(() => this.ctx.call('create', (cb, id) => this.lib.create_async(this.ctx.raw, path, flags, mode, cb, id), (data) => {
      if (!data) throw SysError.of('EIO', 'create', path, { detail: 'no handle' });
      return data;
    }));
  }

  close_(fh: NfsHandle): Promise<void> {
    return this.inSequence(() => this.ctx.call('close', (cb, id) => this.lib.close_async(this.ctx.raw, fh, cb, id), () => undefined));
  }

  /** Reads into `target` from `position`, in calls of at most readMax; the bytes read (short only at EOF). */
  async read(fh: NfsHandle, target: Buffer, position: number): Promise<number> {
    let done = 0;
    while (done < target.length) {
      const want = Math.min(this.readMax, target.length - done);
      const n = await this.ctx.call('read', (cb, id) => this.lib.pread_async(this.ctx.raw, fh, position + done, want, cb, id), (data, count) => {
        if (count > 0) this.lib.memcpy(target.subarray(done, done + count), data, count); // copy now: libnfs reuses its buffer
        return count;
      });
      done += n;
      if (n < want) break;
    }
    return done;
  }

  async write(fh: NfsHandle, data: Buffer, position: number): Promise<number> {
    let done = 0;
    while (done < data.length) {
      // libnfs may re-read the buffer on a short-write retry: a slice keeps `data` referenced until the callback.
      const chunk = data.subarray(done, done + this.writeMax);
      const n = await this.ctx.call('write', (cb, id) => this.lib.pwrite_async(this.ctx.raw, fh, position + done, chunk.length, chunk, cb, id), (_d, count) => count);
      if (n <= 0) throw SysError.of('EIO', 'write', undefined, { detail: 'the server wrote nothing' });
      done += n;
    }
    return done;
  }

  fsync(fh: NfsHandle): Promise<void> {
    return this.ctx.call('fsync', (cb, id) => this.lib.fsync_async(this.ctx.raw, fh, cb, id), () => undefined);
  }

  ftruncate(fh: NfsHandle, size: number): Promise<void> {
    return this.ctx.call('truncate', (cb, id) => this.lib.ftruncate_async(this.ctx.raw, fh, size, cb, id), () => undefined);
  }

  truncate(path: string, size: number): Promise<void> {
    return this.ctx.call('truncate', (cb, id) => this.lib.truncate_async(this.ctx.raw, path, size, cb, id), () => undefined);
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.ctx.call('mkdir', (cb, id) => this.lib.mkdir2_async(this.ctx.raw, path, mode, cb, id), () => undefined);
  }

  rmdir(path: string): Promise<void> {
    return this.ctx.call('rmdir', (cb, id) => this.lib.rmdir_async(this.ctx.raw, path, cb, id), () => undefined);
  }

  unlink(path: string): Promise<void> {
    return this.ctx.call('unlink', (cb, id) => this.lib.unlink_async(this.ctx.raw, path, cb, id), () => undefined);
  }

  rename(from: string, to: string): Promise<void> {
    return this.ctx.call('rename', (cb, id) => this.lib.rename_async(this.ctx.raw, from, to, cb, id), () => undefined);
  }

  symlink(target: string, path: string): Promise<void> {
    return this.ctx.call('symlink', (cb, id) => this.lib.symlink_async(this.ctx.raw, target, path, cb, id), () => undefined);
  }

  link(existing: string, path: string): Promise<void> {
    return this.ctx.call('link', (cb, id) => this.lib.link_async(this.ctx.raw, existing, path, cb, id), () => undefined);
  }

  /**
   * A symlink's target. libnfs 4.0 hands an NFSv4 target over without a NUL after it (seen as
   * stray bytes after the target, now and then), so on v4 it is cut at the link's size.
   */
  async readlink(path: string): Promise<string> {
    const size = this.protocol === 4 ? (await this.lstat(path)).size : undefined;
    const target = await this.ctx.call('readlink', (cb, id) => this.lib.readlink_async(this.ctx.raw, path, cb, id), (data) => String(this.lib.koffi.decode(data, 'char', -1)));
    return size === undefined ? target : Buffer.from(target).subarray(0, size).toString();
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.ctx.call('chmod', (cb, id) => this.lib.chmod_async(this.ctx.raw, path, mode, cb, id), () => undefined);
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.ctx.call('chown', (cb, id) => this.lib.lchown_async(this.ctx.raw, path, uid, gid, cb, id), () => undefined);
  }

  /** Times to the microsecond (libnfs 4.0 takes struct timeval). */
  utimes(path: string, atime: Timespec, mtime: Timespec): Promise<void> {
    const times = new BigInt64Array([BigInt(atime.sec), BigInt(Math.floor(atime.nsec / 1000)), BigInt(mtime.sec), BigInt(Math.floor(mtime.nsec / 1000))]);
    return this.ctx.call('utimes', (cb, id) => this.lib.utimes_async(this.ctx.raw, path, times, cb, id), () => undefined);
  }

  statfs(path: string): Promise<StatFs> {
    return this.ctx.call('statfs', (cb, id) => this.lib.statvfs_async(this.ctx.raw, path, cb, id), (data) => {
      // glibc's struct statvfs on 64-bit Linux: eleven 8-byte fields
      const v = Array.from(this.lib.koffi.decode(data, 'uint64_t', 11) as ArrayLike<bigint | number>, Number);
      return { bsize: v[0] ?? 4096, frsize: v[1] ?? 4096, blocks: v[2] ?? 0, bfree: v[3] ?? 0, bavail: v[4] ?? 0, files: v[5] ?? 0, ffree: v[6] ?? 0, favail: v[7] ?? 0, namemax: v[10] || 255 };
    });
  }

  /** Every entry of a directory, with the attributes READDIRPLUS brought along. */
  readdir(path: string): Promise<Array<{ name: string; attr: Attr }>> {
    return this.ctx.call('readdir', (cb, id) => this.lib.opendir_async(this.ctx.raw, path, cb, id), (dir) => {
      const entries: Array<{ name: string; attr: Attr }> = [];
      try {
        for (let e = this.lib.readdir(this.ctx.raw, dir); e; e = this.lib.readdir(this.ctx.raw, dir)) {
          const d = this.lib.koffi.decode(e, this.lib.direntType) as Record<string, unknown>;
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
        this.lib.closedir(this.ctx.raw, dir);
      }
      return entries;
    });
  }
}
