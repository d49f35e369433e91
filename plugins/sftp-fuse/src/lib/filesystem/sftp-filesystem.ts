import { SysError, type Attr, type DirEntry, type FileSystem, type OpenReply, type StatFs, type TimeUpdate } from '@kmx/core';
import type { Connection } from '../connection/connection.js';
import { OpenFlag } from '../protocol/session.js';
import { AttributeChanges } from './attribute-changes.js';
import { DirectoryListings } from './listings.js';
import { NameChanges } from './name-changes.js';
import { OpenFile, sftpOpenFlags } from './open-file.js';
import { RemoteTree, type SftpFileSystemOptions } from './remote-tree.js';
import { SendGate } from './send-gate.js';
import { statFollowing } from './symlinks.js';

export type { SftpFileSystemOptions } from './remote-tree.js';

const REOPEN_MASK = ~(OpenFlag.CREAT | OpenFlag.EXCL | OpenFlag.TRUNC);

/**
 * A remote directory over SFTP as a kmx FileSystem. Metadata is cached (cache.ts), reads are
 * split into parallel requests, writes are write-behind (open-file.ts), and every request
 * goes through the Connection, which reconnects and decides what is retried (remote-tree.ts).
 * Listings, changes to names and changes to attributes each have a module of their own.
 */
export class SftpFileSystem implements FileSystem {
  private readonly tree: RemoteTree;
  private readonly sendGate = new SendGate();
  private readonly listings: DirectoryListings;
  private readonly names: NameChanges;
  private readonly attributes: AttributeChanges;

  constructor(connection: Connection, options: SftpFileSystemOptions) {
    this.tree = new RemoteTree(connection, options);
    this.listings = new DirectoryListings(this.tree);
    this.names = new NameChanges(this.tree);
    this.attributes = new AttributeChanges(this.tree, (path, fh) => this.getattr(path, fh));
  }

  /** Link counts, inode numbers and nanosecond times come from the server (for the engine's use_ino). */
  get inodeNumbers(): boolean {
    return this.tree.options.rootDev !== undefined;
  }

  destroy(): void {
    this.tree.connection.close();
  }

  async getattr(path: string, fh?: number): Promise<Attr> {
    const open = fh === undefined ? undefined : this.tree.files.get(fh);
    if (open?.orphaned) {
      // Its path is another file's, or none: asked through the handle. Without a link count
      // from the server, the name that went was its only one (SFTP v3 counts one per file).
      const stats = await open.stat();
      const attr = this.tree.attr(stats);
      if (!this.tree.knowsAll(stats)) attr.nlink = 0;
      return attr;
    }
    const cached = this.tree.cache.lookup(path);
    if (cached) return cached; // kept up to date by what goes behind (cache.written, setAttributes)
    if (cached === null) throw SysError.of('ENOENT', 'lstat', path);
    await this.tree.sendQueued(path);
    const remote = this.tree.remote(path);
    const stats = await this.tree.run(true, (s) => (this.tree.options.followSymlinks ? statFollowing(s, remote) : path === '/' ? s.stat(remote) : s.lstat(remote)));
    const attr = this.tree.attr(stats);
    if (open) attr.size = Math.max(attr.size, open.pendingSize);
    this.tree.cache.setAttr(path, attr);
    return attr;
  }

  readlink(path: string): Promise<string> {
    return this.tree.run(true, (s) => s.readlink(this.tree.remote(path)));
  }

  readdir(path: string): Promise<DirEntry[]> {
    return this.listings.readdir(path);
  }

  mknod(path: string, mode: number, rdev: number): Promise<void> {
    return this.names.mknod(path, mode, rdev);
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.names.mkdir(path, mode);
  }

  unlink(path: string): Promise<void> {
    return this.names.unlink(path);
  }

  rmdir(path: string): Promise<void> {
    return this.names.rmdir(path);
  }

  symlink(target: string, path: string): Promise<void> {
    return this.names.symlink(target, path);
  }

  rename(from: string, to: string, flags: number): Promise<void> {
    return this.names.rename(from, to, flags);
  }

  link(existing: string, path: string): Promise<void> {
    return this.names.link(existing, path);
  }

  chmod(path: string, mode: number, fh?: number): Promise<void> {
    return this.attributes.chmod(path, mode, fh);
  }

  chown(path: string, uid: number, gid: number, fh?: number): Promise<void> {
    return this.attributes.chown(path, uid, gid, fh);
  }

  truncate(path: string, size: number, fh?: number): Promise<void> {
    return this.attributes.truncate(path, size, fh);
  }

  utimens(path: string, atime: TimeUpdate, mtime: TimeUpdate, fh?: number): Promise<void> {
    return this.attributes.utimens(path, atime, mtime, fh);
  }

  async open(path: string, flags: number): Promise<OpenReply> {
    const pflags = sftpOpenFlags(flags);
    if (pflags & (OpenFlag.WRITE | OpenFlag.TRUNC)) this.tree.writable('open', path);
    const remote = this.tree.remote(path);
    const handle = await this.tree.changing(path, () => this.tree.run(!(pflags & OpenFlag.EXCL), (s) => s.open(remote, pflags)));
    const file = new OpenFile(this.tree.connection, path, pflags & REOPEN_MASK, this.tree.options.writeBehindLimit, this.sendGate, (p) => this.tree.remote(p));
    file.opened(handle);
    if (pflags & OpenFlag.TRUNC) this.tree.cache.changed(path);
    return { fh: this.tree.files.add(file) };
  }

  async create(path: string, mode: number, flags: number): Promise<OpenReply> {
    this.tree.writable('create', path);
    const pflags = sftpOpenFlags(flags) | OpenFlag.CREAT;
    const remote = this.tree.remote(path);
    // The stat rides along with the open (the server answers in order): the engine asks for it next.
    const [handle, stats] = await this.tree.run(false, (s) => Promise.all([s.open(remote, pflags, { mode: mode & 0o7777 }), s.lstat(remote)]));
    const file = new OpenFile(this.tree.connection, path, pflags & REOPEN_MASK, this.tree.options.writeBehindLimit, this.sendGate, (p) => this.tree.remote(p), true);
    file.opened(handle);
    this.tree.cache.added(path, this.tree.attr(stats));
    return { fh: this.tree.files.add(file) };
  }

  read(_path: string, fh: number, buffer: Buffer, position: number): number | Promise<number> {
    return this.tree.files.get(fh).read(buffer, position);
  }

  write(path: string, fh: number, data: Buffer, position: number): number | Promise<number> {
    this.tree.writable('write', path);
    const file = this.tree.files.get(fh);
    if (!file.orphaned) {
      this.tree.cache.written(path, position + data.length, this.tree.now);
      for (const other of this.tree.files.ofPath(path)) if (other !== file) other.invalidate();
    }
    const written = file.write(data, position);
    return typeof written === 'number' ? written : this.reporting(path, written);
  }

  async flush(path: string, fh: number): Promise<void> {
    await this.reporting(path, this.tree.files.get(fh).flush());
  }

  async fsync(path: string, fh: number): Promise<void> {
    await this.reporting(path, this.tree.files.get(fh).fsync());
  }

  /** A write or change sent behind failed: what the cache says of the file is unconfirmed. */
  private async reporting<T>(path: string, settled: Promise<T>): Promise<T> {
    try {
      return await settled;
    } catch (err) {
      this.tree.cache.changed(path);
      throw err;
    }
  }

  async release(path: string, fh: number): Promise<void> {
    const file = this.tree.files.get(fh);
    this.tree.files.remove(fh);
    await this.reporting(path, file.release());
  }

  async statfs(): Promise<StatFs> {
    return this.tree.run(true, async (s) => {
      if (!s.hasExtension('statvfs@openssh.com', '2')) {
        // What sshfs reports when the server cannot tell: plenty of room.
        return { bsize: 4096, frsize: 4096, blocks: 1e9, bfree: 1e9, bavail: 1e9, files: 1e9, ffree: 1e9, namemax: 255 };
      }
      const v = await s.statvfs(this.tree.options.root);
      return { bsize: v.f_bsize, frsize: v.f_frsize, blocks: v.f_blocks, bfree: v.f_bfree, bavail: v.f_bavail, files: v.f_files, ffree: v.f_ffree, favail: v.f_favail, namemax: v.f_namemax };
    });
  }
}
