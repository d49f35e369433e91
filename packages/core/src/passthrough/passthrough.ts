import * as fs from 'node:fs';
import { errnoOf } from '../errors/index.js';
import { AT_EACCESS, AT_FDCWD, AT_SYMLINK_NOFOLLOW, UTIME_NOW, UTIME_OMIT } from '../libc/constants.js';
import { faccessat, fallocate, mknodat, renameat2, utimensat, type Timespec } from '../libc/files.js';
import { lgetxattr, llistxattr, lremovexattr, lsetxattr } from '../libc/xattr.js';
import type { Attr, Caller, DirEntry, FileSystem, OpenReply, StatFs, TimeUpdate } from '../fuse/types.js';
import { AsCaller } from './as-caller.js';
import { fstatAttr, lstatAttr } from './attributes.js';
import { listDirectory } from './listing.js';
import { withUsablePath } from './long-paths.js';

function utimeValue(t: TimeUpdate): Timespec {
  if (t === 'now') return { sec: 0, nsec: UTIME_NOW };
  if (t === 'omit') return { sec: 0, nsec: UTIME_OMIT };
  return t;
}

const EPERM = 1;
const SETID_BITS = 0o6000;

// Flags the kernel handles itself, or that would change the meaning of a plain open here.
// O_DIRECT: the kernel already bypasses its cache of the mount for such a file; on the backing
// file it would demand aligned buffers and offsets, which the requests do not have (EINVAL).
const OPEN_FLAGS_DROPPED = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOCTTY | fs.constants.O_DIRECT;

function readAll(fd: number, buffer: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = (): void => {
      fs.read(fd, buffer, done, buffer.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        // A short read means end of file; only then may FUSE get fewer bytes than it asked for.
        if (n === 0 || done === buffer.length) return resolve(done);
        return next();
      });
    };
    next();
  });
}

/** Writes all of `data`, or as much as fits: an error after some progress is a short write, as write(2) reports it. */
function writeAllNow(fd: number, data: Buffer, position: number): number {
  let done = 0;
  while (done < data.length) {
    try {
      done += fs.writeSync(fd, data, done, data.length - done, position + done);
    } catch (err) {
      if (done > 0) return done;
      throw err;
    }
  }
  return done;
}

function writeAll(fd: number, data: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = (): void => {
      fs.write(fd, data, done, data.length - done, position + done, (err, n) => {
        if (err) return done > 0 ? resolve(done) : reject(err);
        done += n;
        if (done === data.length) return resolve(done);
        return next();
      });
    };
    next();
  });
}

/**
 * The pass-through filesystem: every operation applied to a backing directory. It is the
 * reference for FUSE overhead and the base kmx enc builds on.
 *
 * Metadata calls are synchronous: on a local disk they take microseconds, and an answer
 * given inside the engine's callback is the fastest there is. Data (read, write, fsync) goes
 * through the libuv pool, so large transfers overlap; but a write with no other data operation
 * in flight is done at once, on this thread: the pool's round trip costs two thread wakeups
 * (~60 µs each on a virtual machine), which a sequential writer waits for on every request
 * (256 MiB in 1 MiB writes: 0.33–0.41 s through the pool, 0.27–0.32 s at once, before fsync).
 * Served by root, files are created as the caller (AsCaller); the process umask is cleared so
 * that the modes the kernel sends (the caller's umask already applied) are used exactly as given.
 */
export class PassthroughFileSystem implements FileSystem {
  private readonly root: string;
  private readonly asCaller = new AsCaller();
  /** Data operations running in the libuv pool. */
  private pooled = 0;

  constructor(root: string) {
    this.root = root === '/' ? '' : root.replace(/\/+$/, '');
    process.umask(0);
  }

  /** The backing path of a filesystem path. */
  protected real(path: string): string {
    return path === '/' ? this.root || '/' : this.root + path;
  }

  /** Calls `use` with a backing path the kernel accepts, even when it is longer than PATH_MAX. */
  protected at<T>(path: string, use: (real: string) => T): T {
    return withUsablePath(this.real(path), use);
  }

  getattr(path: string, fh?: number): Attr {
    return fh === undefined ? this.at(path, lstatAttr) : fstatAttr(fh);
  }

  /**
   * As the caller (without default_permissions the kernel asks here: test -w, access(2)).
   * access(2) itself would check with the real uid, a root server's, and pass everything.
   */
  access(path: string, mask: number, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(path, (p) => faccessat(AT_FDCWD, p, mask, AT_EACCESS)));
  }

  readlink(path: string): string {
    return this.at(path, (p) => fs.readlinkSync(p));
  }

  readdir(path: string): DirEntry[] {
    return this.at(path, listDirectory);
  }

  mknod(path: string, mode: number, rdev: number, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(path, (p) => mknodat(AT_FDCWD, p, mode, rdev)));
  }

  mkdir(path: string, mode: number, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(path, (p) => fs.mkdirSync(p, mode)));
  }

  unlink(path: string, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(path, (p) => fs.unlinkSync(p)));
  }

  rmdir(path: string, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(path, (p) => fs.rmdirSync(p)));
  }

  symlink(target: string, path: string, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(path, (p) => fs.symlinkSync(target, p)));
  }

  rename(from: string, to: string, flags: number, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(from, (a) => this.at(to, (b) => {
      if (flags === 0) fs.renameSync(a, b);
      else renameat2(AT_FDCWD, a, AT_FDCWD, b, flags);
    })));
  }

  link(existing: string, path: string, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(existing, (a) => this.at(path, (b) => fs.linkSync(a, b))));
  }

  chmod(path: string, mode: number, fh: number | undefined, caller: Caller): void {
    const change = (): void => (fh === undefined ? this.at(path, (p) => fs.chmodSync(p, mode)) : fs.fchmodSync(fh, mode));
    try {
      this.asCaller.run(caller, change);
    } catch (err) {
      // A write or truncate by someone who is not the owner clears setuid/setgid: the kernel
      // asks for it as a chmod from the writer, which the writer may not do. A local
      // filesystem clears them for anyone with write access, so do it for them as root.
      if (errnoOf(err) !== EPERM || !this.dropsPrivilegesOnly(path, fh, mode, caller)) throw err;
      change();
    }
  }

  /** Whether `mode` is the current mode less setuid and/or setgid, and the caller may write the file. */
  private dropsPrivilegesOnly(path: string, fh: number | undefined, mode: number, caller: Caller): boolean {
    const current = (fh === undefined ? this.at(path, (p) => fs.lstatSync(p)) : fs.fstatSync(fh)).mode & 0o7777;
    mode &= 0o7777; // libfuse 2 passes the file type bits too
    const removesOnlySetid = mode !== current && (mode & ~SETID_BITS) === (current & ~SETID_BITS) && (mode & ~current) === 0;
    if (!removesOnlySetid) return false;
    try {
      this.asCaller.run(caller, () => this.at(path, (p) => fs.accessSync(p, fs.constants.W_OK)));
      return true;
    } catch {
      return false;
    }
  }

  chown(path: string, uid: number, gid: number, fh: number | undefined, caller: Caller): void {
    this.asCaller.run(caller, () => (fh === undefined ? this.at(path, (p) => fs.lchownSync(p, uid, gid)) : fs.fchownSync(fh, uid, gid)));
  }

  truncate(path: string, size: number, fh: number | undefined, caller: Caller): void {
    if (fh === undefined) this.asCaller.run(caller, () => this.at(path, (p) => fs.truncateSync(p, size)));
    else fs.ftruncateSync(fh, size);
  }

  utimens(path: string, atime: TimeUpdate, mtime: TimeUpdate, fh: number | undefined, caller: Caller): void {
    // As the caller: "now" is allowed to anyone with write access, explicit times only to the owner.
    this.asCaller.run(caller, () => {
      if (fh === undefined) this.at(path, (p) => utimensat(AT_FDCWD, p, utimeValue(atime), utimeValue(mtime), AT_SYMLINK_NOFOLLOW));
      else utimensat(fh, null, utimeValue(atime), utimeValue(mtime));
    });
  }

  open(path: string, flags: number, caller: Caller): OpenReply {
    return { fh: this.asCaller.run(caller, () => this.at(path, (p) => fs.openSync(p, flags & ~OPEN_FLAGS_DROPPED))) };
  }

  /**
   * Without default_permissions the kernel leaves permission checks to the filesystem: listing
   * a directory needs the caller's read permission, as opening it would.
   */
  opendir(path: string, _flags: number, caller: Caller): OpenReply {
    this.asCaller.run(caller, () => this.at(path, (p) => fs.closeSync(fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY))));
    return { fh: 1 }; // listings go by path: no handle is kept (and fuse-native wants one above 0)
  }

  create(path: string, mode: number, flags: number, caller: Caller): OpenReply {
    const createFlags = (flags & ~(fs.constants.O_NOCTTY | fs.constants.O_DIRECT)) | fs.constants.O_CREAT;
    return { fh: this.asCaller.run(caller, () => this.at(path, (p) => fs.openSync(p, createFlags, mode))) };
  }

  read(_path: string, fh: number, buffer: Buffer, position: number): Promise<number> {
    return this.inPool(readAll(fh, buffer, position));
  }

  write(_path: string, fh: number, data: Buffer, position: number): number | Promise<number> {
    if (this.pooled === 0) return writeAllNow(fh, data, position);
    return this.inPool(writeAll(fh, data, position));
  }

  flush(): void {
    // Data goes straight to the backing file; nothing is buffered here.
  }

  release(_path: string, fh: number): void {
    fs.closeSync(fh);
  }

  fsync(_path: string, fh: number, datasync: boolean): Promise<void> {
    return this.inPool(new Promise((resolve, reject) => (datasync ? fs.fdatasync : fs.fsync)(fh, (err) => (err ? reject(err) : resolve()))));
  }

  /** Whatever fallocate(2) modes the backing filesystem has (ext4: all of them). */
  fallocate(_path: string, fh: number, mode: number, offset: number, length: number): void {
    fallocate(fh, mode, offset, length);
  }

  /** Counts `operation` as running in the pool until it settles. */
  private inPool<T>(operation: Promise<T>): Promise<T> {
    this.pooled++;
    const settled = (): void => {
      this.pooled--;
    };
    operation.then(settled, settled);
    return operation;
  }

  statfs(path: string): StatFs {
    const s = this.at(path, (p) => fs.statfsSync(p));
    return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namemax: 255 };
  }

  setxattr(path: string, name: string, value: Buffer, flags: number, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(path, (p) => lsetxattr(p, name, value, flags)));
  }

  getxattr(path: string, name: string): Buffer {
    return this.at(path, (p) => lgetxattr(p, name));
  }

  listxattr(path: string): string[] {
    return this.at(path, (p) => llistxattr(p));
  }

  removexattr(path: string, name: string, caller: Caller): void {
    this.asCaller.run(caller, () => this.at(path, (p) => lremovexattr(p, name)));
  }
}
