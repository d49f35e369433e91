import * as fs from 'node:fs';
import { SysError, errnoOf, libc, withUsablePath as on, type AsCaller, type Caller } from '@kmx/core';
import { randomPool } from '../cryptocore/index.js';
import { DIRIV_BYTES, DIRIV_NAME, LONGNAME_SUFFIX } from '../nametransform/index.js';
import type { CipherEntry, CipherTree } from './cipher-tree.js';

/**
 * Makes, removes and renames entries of the cipher tree, as the caller. What the format keeps
 * beside an entry goes with it: a long name's .name sidecar, a directory's gocryptfs.diriv.
 * Either is taken back again when the entry cannot be made or removed, so that no name is
 * left without its sidecar nor a directory without its IV.
 */
export class CipherEntries {
  constructor(private readonly tree: CipherTree, private readonly asCaller: AsCaller) {}

  /** Makes a new entry: its .name sidecar first for a long name (removed again if making fails). */
  make<T>(path: string, caller: Caller, make: (entry: CipherEntry) => T): T {
    const entry = this.tree.entry(path);
    const sidecar = entry.name.longName !== undefined && this.writeSidecar(entry, caller);
    try {
      return make(entry);
    } catch (err) {
      if (sidecar) removeQuietly(`${entry.path}${LONGNAME_SUFFIX}`);
      throw err;
    }
  }

  mknod(path: string, mode: number, rdev: number, caller: Caller): void {
    this.make(path, caller, (entry) => this.asCaller.run(caller, () => on(entry.path, (p) => libc.mknodat(libc.AT_FDCWD, p, mode, rdev))));
  }

  mkdir(path: string, mode: number, caller: Caller): void {
    this.make(path, caller, (entry) => {
      if (!this.tree.useDirIv) {
        this.asCaller.run(caller, () => on(entry.path, (p) => fs.mkdirSync(p, mode)));
        return;
      }
      // The directory must be writable to its owner while its diriv is written.
      const writable = (mode & 0o300) === 0o300;
      const diriv = `${entry.path}/${DIRIV_NAME}`;
      this.asCaller.run(caller, () => on(entry.path, (p) => fs.mkdirSync(p, writable ? mode : mode | 0o300)));
      try {
        this.asCaller.run(caller, () => on(diriv, (p) => fs.writeFileSync(p, randomPool.take(DIRIV_BYTES), { mode: 0o444, flag: 'wx' })));
        if (!writable) this.asCaller.run(caller, () => on(entry.path, (p) => fs.chmodSync(p, mode)));
      } catch (err) {
        removeQuietly(diriv);
        try {
          on(entry.path, (p) => fs.rmdirSync(p));
        } catch {
          // Gone already, or someone made an entry in it meanwhile: it stays.
        }
        throw err;
      }
    });
  }

  /** A symlink whose target is stored as `stored` (encrypted by the caller). */
  symlink(stored: string, path: string, caller: Caller): void {
    this.make(path, caller, (entry) => this.asCaller.run(caller, () => on(entry.path, (p) => fs.symlinkSync(stored, p))));
  }

  /** A hard link to the backing file `from`. */
  link(from: string, path: string, caller: Caller): void {
    this.make(path, caller, (entry) => this.asCaller.run(caller, () => on(from, (a) => on(entry.path, (b) => fs.linkSync(a, b)))));
  }

  unlink(path: string, caller: Caller): void {
    const entry = this.tree.entry(path);
    this.asCaller.run(caller, () => on(entry.path, (p) => fs.unlinkSync(p)));
    this.removeSidecar(entry);
  }

  rmdir(path: string, caller: Caller): void {
    const entry = this.tree.entry(path);
    const dir = entry.path;
    const diriv = `${dir}/${DIRIV_NAME}`;
    const listing = on(dir, (p) => fs.readdirSync(p));
    const hasDirIv = listing.includes(DIRIV_NAME);
    if (listing.length > (hasDirIv ? 1 : 0)) throw SysError.of('ENOTEMPTY', 'rmdir', path);
    let iv: Buffer | undefined;
    if (hasDirIv) {
      iv = on(diriv, (p) => fs.readFileSync(p));
      // The diriv goes first (as the caller where the directory lets them, else as the server).
      try {
        this.asCaller.run(caller, () => on(diriv, (p) => fs.unlinkSync(p)));
      } catch {
        on(diriv, (p) => fs.unlinkSync(p));
      }
    }
    try {
      this.asCaller.run(caller, () => on(dir, (p) => fs.rmdirSync(p)));
    } catch (err) {
      if (iv) restoreDirIv(dir, iv);
      throw err;
    }
    this.removeSidecar(entry);
    this.tree.invalidate();
  }

  rename(from: string, to: string, flags: number, caller: Caller): void {
    const source = this.tree.entry(from);
    const target = this.tree.entry(to);
    const exchange = (flags & 2) !== 0; // RENAME_EXCHANGE: both names stay, so do their sidecars
    let sidecar = !exchange && target.name.longName !== undefined && this.writeSidecar(target, caller);
    const move = (): void => this.asCaller.run(caller, () => on(source.path, (a) => on(target.path, (b) => {
      if (flags === 0) fs.renameSync(a, b);
      else libc.renameat2(libc.AT_FDCWD, a, libc.AT_FDCWD, b, flags);
    })));
    try {
      try {
        move();
      } catch (err) {
        // A directory that is empty in plaintext still holds its diriv, so the backing rename
        // refuses to replace it (ENOTEMPTY, or EEXIST on some filesystems): remove it as rmdir
        // would (which fails if it is not empty after all), then move again, as gocryptfs does.
        const code = errnoOf(err);
        if (flags !== 0 || (code !== 39 && code !== 17) || !this.tree.useDirIv) throw err;
        try {
          this.rmdir(to, caller);
        } catch {
          throw err;
        }
        if (target.name.longName !== undefined) sidecar = this.writeSidecar(target, caller); // rmdir took the name's
        move();
      }
    } catch (err) {
      if (sidecar) removeQuietly(`${target.path}${LONGNAME_SUFFIX}`);
      throw err;
    }
    if (!exchange) this.removeSidecar(source);
    this.tree.invalidate();
  }

  /**
   * Writes the sidecar of a long name; false if it was already there (it belongs to an existing
   * entry). One that could not be written whole (a full disk) is removed again.
   */
  private writeSidecar(entry: CipherEntry, caller: Caller): boolean {
    const sidecar = `${entry.path}${LONGNAME_SUFFIX}`;
    let fd: number;
    try {
      fd = this.asCaller.run(caller, () => on(sidecar, (p) => fs.openSync(p, 'wx', 0o444)));
    } catch (err) {
      if (errnoOf(err) === 17) return false;
      throw err;
    }
    try {
      fs.writeFileSync(fd, entry.name.longName!);
    } catch (err) {
      removeQuietly(sidecar);
      throw err;
    } finally {
      fs.closeSync(fd);
    }
    return true;
  }

  private removeSidecar(entry: CipherEntry): void {
    if (entry.name.longName !== undefined) removeQuietly(`${entry.path}${LONGNAME_SUFFIX}`);
  }
}

function restoreDirIv(dir: string, iv: Buffer): void {
  const owner = on(dir, (p) => fs.statSync(p));
  on(`${dir}/${DIRIV_NAME}`, (p) => {
    fs.writeFileSync(p, iv, { mode: 0o444 });
    fs.chownSync(p, owner.uid, owner.gid);
  });
}

/** Removes a file the server made (a sidecar or diriv being rolled back), if it is there. */
function removeQuietly(path: string): void {
  try {
    on(path, (p) => fs.rmSync(p, { force: true }));
  } catch {
    // Its directory is gone or unreachable: nothing to remove.
  }
}
