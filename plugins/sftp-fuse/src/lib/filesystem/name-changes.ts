import { SysError } from '@kmx/core';
import { OpenFlag } from '../protocol/session.js';
import { S_IFDIR, S_IFMT, S_IFREG, fromV3 } from './attrs.js';
import type { RemoteTree } from './remote-tree.js';

const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;

/**
 * What makes, removes, renames and links names, and what each such change does to the
 * cache and to the files open under those names.
 */
export class NameChanges {
  constructor(private readonly tree: RemoteTree) {}

  /**
   * A regular file (an exclusive open and close); FIFOs and sockets only where the server
   * speaks kmx's extension (never device nodes: kmx sftp serve refuses them), EPERM elsewhere.
   */
  async mknod(path: string, mode: number, rdev: number): Promise<void> {
    this.tree.writable('mknod', path);
    const remote = this.tree.remote(path);
    if ((mode & S_IFMT) === S_IFREG) {
      await this.tree.run(false, async (s) => s.closeHandle(await s.open(remote, OpenFlag.WRITE | OpenFlag.CREAT | OpenFlag.EXCL, { mode: mode & 0o7777 }), remote));
      this.tree.cache.added(path);
      return;
    }
    // The stat rides along, as with mkdir.
    const [, stats] = await this.tree.run(false, (s) => Promise.all([s.mknod(remote, mode, rdev), s.lstat(remote)]));
    this.tree.cache.added(path, this.tree.attr(stats));
  }

  async mkdir(path: string, mode: number): Promise<void> {
    this.tree.writable('mkdir', path);
    const remote = this.tree.remote(path);
    // The stat rides along (the server answers in order): the engine asks for it next.
    const [, stats] = await this.tree.run(false, (s) => Promise.all([s.mkdir(remote, mode & 0o7777), s.lstat(remote)]));
    this.tree.cache.removed(path); // anything still cached beneath the name is stale: the directory is new
    this.tree.cache.added(path, this.tree.attr(stats));
    this.tree.cache.setListing(path, []); // new and empty: lookups inside need no round trip
  }

  async unlink(path: string): Promise<void> {
    this.tree.writable('unlink', path);
    const remote = this.tree.remote(path);
    // With kmx's extension, what the name was rides ahead of the unlink: the file's other names
    // (if any) lost a link and their ctime moved.
    const [was] = await this.tree.changing(path, () => this.tree.run(false, (s) => Promise.all([
      s.kmxPosix && !this.tree.cache.lookup(path) ? s.lstat(remote).catch(() => undefined) : Promise.resolve(undefined),
      s.unlink(remote),
    ])));
    this.tree.cache.forgetFile((was ? this.tree.attr(was) : this.tree.cache.lookup(path))?.ino);
    this.tree.cache.removed(path);
    for (const file of this.tree.files.ofPath(path)) file.orphaned = true;
  }

  async rmdir(path: string): Promise<void> {
    this.tree.writable('rmdir', path);
    await this.tree.changing(path, () => this.tree.run(false, (s) => s.rmdir(this.tree.remote(path))));
    this.tree.cache.removed(path);
  }

  async symlink(target: string, path: string): Promise<void> {
    this.tree.writable('symlink', path);
    await this.tree.run(false, (s) => s.symlink(target, this.tree.remote(path)));
    this.tree.cache.added(path);
  }

  async rename(from: string, to: string, flags: number): Promise<void> {
    this.tree.writable('rename', to);
    if (flags & RENAME_EXCHANGE) throw SysError.of('EINVAL', 'rename', to, { detail: 'SFTP cannot exchange two files' });
    const [src, dst] = [this.tree.remote(from), this.tree.remote(to)];
    await this.tree.changing(from, () => this.tree.run(false, async (s) => {
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
      const target = this.tree.cache.lookup(to);
      if (err instanceof SysError && err.code === 'EEXIST' && !(flags & RENAME_NOREPLACE) && target && (target.mode & S_IFMT) === S_IFDIR) throw SysError.of('ENOTEMPTY', 'rename', to);
      throw err;
    });
    const moved = this.tree.cache.lookup(from);
    const replaced = this.tree.cache.lookup(to);
    // Two names of one file (inode numbers known: kmx's extension): rename does nothing.
    if (moved && replaced && !fromV3(moved) && moved.ino === replaced.ino) return;
    this.tree.cache.forgetFile(moved?.ino);
    this.tree.cache.forgetFile(replaced?.ino);
    this.tree.cache.removed(from);
    this.tree.cache.removed(to);
    // The file's ctime moved (renames change it), which SFTP v3 does not show: kept only then.
    this.tree.cache.added(to, moved && (moved.mode & S_IFMT) !== S_IFDIR && fromV3(moved) ? moved : undefined);
    for (const file of this.tree.files.ofPath(to)) file.orphaned = true; // replaced
    this.tree.files.moved(from, to);
  }

  async link(existing: string, path: string): Promise<void> {
    this.tree.writable('link', path);
    const remote = this.tree.remote(path);
    // With kmx's extension, the file's attributes after it ride along: its new link count, for every name.
    const [, stats] = await this.tree.run(false, (s) => {
      if (!s.hasExtension('hardlink@openssh.com')) throw SysError.of('EPERM', 'link', path, { detail: 'the server has no hardlink@openssh.com' });
      return Promise.all([s.link(this.tree.remote(existing), remote), s.kmxPosix ? s.lstat(remote) : Promise.resolve(undefined)]);
    });
    const attr = stats && this.tree.attr(stats);
    this.tree.cache.forgetFile(attr?.ino);
    this.tree.cache.changed(existing);
    this.tree.cache.added(path, attr);
    if (attr) this.tree.cache.setAttr(existing, attr);
  }
}
