import * as fs from 'node:fs';
import { AsCaller, PassthroughFileSystem, SysError, errnoOf, libc, listDirectory, type Attr, type Caller, type DirEntry, type OpenReply } from '@kmx/core';
import { ContentEnc } from '../contentenc/index.js';
import { randomPool } from '../cryptocore/index.js';
import type { CryptoPool } from '../cryptopool/index.js';
import { BadNameError, DIRIV_BYTES, DIRIV_NAME, LONGNAME_SUFFIX, type NameTransform } from '../nametransform/index.js';
import { withBackingPath as on } from './backing-path.js';
import type { CipherEntry, CipherTree } from './cipher-tree.js';
import type { CorruptionLog } from './corruption-log.js';
import { FileContent } from './file-content.js';
import { OpenFileTable, type OpenFile } from './open-files.js';
import type { XattrCrypt } from './xattrs.js';

const { O_RDWR, O_WRONLY, O_APPEND, O_TRUNC, O_CREAT, O_EXCL, O_NOCTTY, O_DIRECT } = fs.constants;
/** Flags the backing open must not get: appends and truncation are done block-wise here, O_DIRECT breaks unaligned access. */
const BACKING_DROPPED = O_APPEND | O_TRUNC | O_DIRECT | O_NOCTTY;
const O_ACCMODE = 3;
/** Thrown as is, often: building an error (and its stack) per write is measurable. */
const ENODATA = SysError.of('ENODATA', 'getxattr');
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

export interface ForwardOptions {
  tree: CipherTree;
  content: ContentEnc;
  xattrs: XattrCrypt;
  corruption: CorruptionLog;
  /** Crypto workers for large reads and writes (without one, everything is done inline). */
  pool?: CryptoPool;
  /** A descriptor the tree's root refers to, closed with the session. */
  rootFd?: number;
}

/**
 * The plaintext view of a CIPHERDIR (gocryptfs's forward mode), built on the pass-through
 * filesystem: every path is translated to its encrypted counterpart (real()), and the
 * operations that see names, link targets, content or attributes encrypt and decrypt them.
 * Modes, owners and times pass through on the encrypted files. File handles are the backing
 * descriptors, so the inherited fchmod/fchown/futimens/fsync work on them unchanged.
 */
export class ForwardFileSystem extends PassthroughFileSystem {
  private readonly tree: CipherTree;
  private readonly names: NameTransform;
  private readonly content: ContentEnc;
  private readonly files: FileContent;
  private readonly xattrs: XattrCrypt;
  private readonly corruption: CorruptionLog;
  private readonly open_ = new OpenFileTable();
  private readonly caller_ = new AsCaller();
  private readonly pool: CryptoPool | undefined;
  private readonly rootFd: number | undefined;

  constructor(options: ForwardOptions) {
    super(options.tree.root);
    this.tree = options.tree;
    this.names = options.tree.names;
    this.content = options.content;
    this.xattrs = options.xattrs;
    this.corruption = options.corruption;
    this.files = new FileContent(options.content, options.corruption, options.pool);
    this.pool = options.pool;
    this.rootFd = options.rootFd;
  }

  protected override real(path: string): string {
    return this.tree.cipherPath(path);
  }

  // ---- attributes ----

  /**
   * By path, as the caller: without default_permissions nothing else checks that they may search
   * the directories on the way (the CIPHERDIR's have the view's modes and owners).
   */
  override getattr(path: string, fh?: number, caller?: Caller): Attr {
    return this.plainAttr(fh === undefined ? this.as(caller, () => super.getattr(path)) : super.getattr(path, fh), path);
  }

  /** Runs a call as the caller (a path it resolves is checked for them), or as the server when none is known. */
  private as<T>(caller: Caller | undefined, call: () => T): T {
    return caller ? this.caller_.run(caller, call) : call();
  }

  /** A backing file's attributes with the plaintext size (files: minus header and tags; links: the target's length). */
  private plainAttr(attr: Attr, path: string): Attr {
    const type = attr.mode & S_IFMT;
    if (type === S_IFREG) {
      const { size: stored, corrupt } = this.content.layout.plainSize(attr.size);
      // Writes still in flight count: the kernel must not see the file shrink back.
      const pending = attr.ino === undefined ? undefined : this.open_.entryOf(BigInt(attr.ino))?.logicalSize;
      const size = pending === undefined ? stored : Math.max(stored, pending);
      if (corrupt) this.corruption.report(`size:${attr.ino}`, `corrupt file ${path} (inode ${attr.ino}): ${attr.size} bytes is no valid encrypted size (truncated?); reading its end gives EIO`);
      // A corrupt tail counts as one byte: readers reach it and get EIO instead of a file silently cut short.
      attr.size = corrupt ? size + 1 : size;
    } else if (type === S_IFLNK && !this.names.plaintext) {
      // base64 of nonce ‖ sealed target: the plaintext length follows from the encoded length.
      attr.size = Math.max(0, Math.floor((attr.size * 3) / 4) - this.content.aead.overhead);
    }
    return attr;
  }

  override readlink(path: string, caller?: Caller): string {
    const stored = this.as(caller, () => super.readlink(path));
    if (this.names.plaintext) return stored;
    const sealed = this.names.b64.decode(stored);
    const target = sealed && this.content.openValue(sealed);
    if (!target) {
      this.corruption.report(`link:${path}`, `corrupt symlink ${path}: its target does not authenticate`);
      throw SysError.of('EIO', 'readlink', path, { detail: 'the target does not authenticate' });
    }
    return target.toString('utf8');
  }

  override readdir(path: string): DirEntry[] {
    const dir = this.real(path);
    const iv = this.tree.dirIv(dir);
    const atRoot = path === '/';
    const entries: DirEntry[] = [];
    for (const { name: onDisk, attr } of on(dir, listDirectory)) {
      if (this.names.isInternal(onDisk, atRoot)) continue;
      let name: string;
      try {
        name = this.names.decryptName(this.tree.fullName(dir, onDisk), iv);
      } catch (err) {
        const why = err instanceof BadNameError ? err.reason : err instanceof Error ? err.message : String(err);
        this.corruption.report(`name:${dir}/${onDisk}`, `bad name ${onDisk} in ${this.tree.shown(dir)} (shown as ${path}): ${why}; it is hidden`);
        continue;
      }
      const childPath = atRoot ? `/${name}` : `${path}/${name}`;
      entries.push(attr ? { name, attr: this.plainAttr(attr, childPath) } : { name });
    }
    return entries;
  }

  /**
   * access(2) as the caller. Without default_permissions the kernel asks here (test -w, access
   * with R_OK/W_OK/X_OK). access(2) itself checks with the real uid, which is the server's (root),
   * whatever fsuid is set, so every check passed: faccessat with AT_EACCESS checks with the
   * identity AsCaller sets.
   */
  override access(path: string, mask: number, caller: Caller): void {
    this.caller_.run(caller, () => on(this.real(path), (p) => libc.faccessat(libc.AT_FDCWD, p, mask, libc.AT_EACCESS)));
  }

  // ---- names ----

  /** Makes a new entry: its .name sidecar first for a long name (removed again if making fails). */
  private makeEntry<T>(path: string, caller: Caller, make: (entry: CipherEntry) => T): T {
    const entry = this.tree.entry(path);
    const sidecar = entry.name.longName !== undefined && this.writeSidecar(entry, caller);
    try {
      return make(entry);
    } catch (err) {
      if (sidecar) removeQuietly(`${entry.path}${LONGNAME_SUFFIX}`);
      throw err;
    }
  }

  /**
   * Writes the sidecar of a long name; false if it was already there (it belongs to an existing
   * entry). One that could not be written whole (a full disk) is removed again.
   */
  private writeSidecar(entry: CipherEntry, caller: Caller): boolean {
    const sidecar = `${entry.path}${LONGNAME_SUFFIX}`;
    let fd: number;
    try {
      fd = this.caller_.run(caller, () => on(sidecar, (p) => fs.openSync(p, 'wx', 0o444)));
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

  override mknod(path: string, mode: number, rdev: number, caller: Caller): void {
    this.makeEntry(path, caller, (entry) => this.caller_.run(caller, () => on(entry.path, (p) => libc.mknodat(libc.AT_FDCWD, p, mode, rdev))));
  }

  override mkdir(path: string, mode: number, caller: Caller): void {
    this.makeEntry(path, caller, (entry) => {
      if (!this.tree.useDirIv) {
        this.caller_.run(caller, () => on(entry.path, (p) => fs.mkdirSync(p, mode)));
        return;
      }
      // The directory must be writable to its owner while its diriv is written.
      const writable = (mode & 0o300) === 0o300;
      const diriv = `${entry.path}/${DIRIV_NAME}`;
      this.caller_.run(caller, () => on(entry.path, (p) => fs.mkdirSync(p, writable ? mode : mode | 0o300)));
      try {
        this.caller_.run(caller, () => on(diriv, (p) => fs.writeFileSync(p, randomPool.take(DIRIV_BYTES), { mode: 0o444, flag: 'wx' })));
        if (!writable) this.caller_.run(caller, () => on(entry.path, (p) => fs.chmodSync(p, mode)));
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

  override symlink(target: string, path: string, caller: Caller): void {
    const stored = this.names.plaintext ? target : this.names.b64.encode(this.content.sealValue(Buffer.from(target, 'utf8'), randomPool.take(16)));
    this.makeEntry(path, caller, (entry) => this.caller_.run(caller, () => on(entry.path, (p) => fs.symlinkSync(stored, p))));
  }

  override link(existing: string, path: string, caller: Caller): void {
    const from = this.real(existing);
    this.makeEntry(path, caller, (entry) => this.caller_.run(caller, () => on(from, (a) => on(entry.path, (b) => fs.linkSync(a, b)))));
  }

  override unlink(path: string, caller: Caller): void {
    const entry = this.tree.entry(path);
    this.caller_.run(caller, () => on(entry.path, (p) => fs.unlinkSync(p)));
    this.removeSidecar(entry);
  }

  override rmdir(path: string, caller: Caller): void {
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
        this.caller_.run(caller, () => on(diriv, (p) => fs.unlinkSync(p)));
      } catch {
        on(diriv, (p) => fs.unlinkSync(p));
      }
    }
    try {
      this.caller_.run(caller, () => on(dir, (p) => fs.rmdirSync(p)));
    } catch (err) {
      if (iv) this.restoreDirIv(dir, iv);
      throw err;
    }
    this.removeSidecar(entry);
    this.tree.invalidate();
  }

  private restoreDirIv(dir: string, iv: Buffer): void {
    const owner = on(dir, (p) => fs.statSync(p));
    on(`${dir}/${DIRIV_NAME}`, (p) => {
      fs.writeFileSync(p, iv, { mode: 0o444 });
      fs.chownSync(p, owner.uid, owner.gid);
    });
  }

  override rename(from: string, to: string, flags: number, caller: Caller): void {
    const source = this.tree.entry(from);
    const target = this.tree.entry(to);
    const exchange = (flags & 2) !== 0; // RENAME_EXCHANGE: both names stay, so do their sidecars
    let sidecar = !exchange && target.name.longName !== undefined && this.writeSidecar(target, caller);
    const move = (): void => this.caller_.run(caller, () => on(source.path, (a) => on(target.path, (b) => {
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

  // ---- open files ----

  override open(path: string, flags: number, caller: Caller): OpenReply {
    const fd = this.openBacking(this.real(path), flags, caller);
    return this.registerOpen(fd, flags, path);
  }

  override create(path: string, mode: number, flags: number, caller: Caller): OpenReply {
    const fd = this.makeEntry(path, caller, (entry) => this.openBacking(entry.path, flags | O_CREAT, caller, mode));
    return this.registerOpen(fd, flags, path);
  }

  /**
   * Opens the backing file as the caller. Writers need to read too (read-modify-write of
   * partial blocks): write-only opens become read-write; if the caller may only write, the
   * file is opened by the server once the caller's own write-only open has proved the right.
   * O_TRUNC (done here, block-wise, not by the backing open) needs the right to write whatever
   * the access mode, as open(2) has it: O_RDONLY|O_TRUNC opens read-write as the caller, so a
   * caller who may only read gets EACCES and the file stays whole.
   */
  private openBacking(cipherPath: string, flags: number, caller: Caller, mode = 0o644): number {
    let backing = flags & ~BACKING_DROPPED;
    if ((flags & O_ACCMODE) === O_WRONLY || (flags & O_TRUNC) !== 0) backing = (backing & ~O_ACCMODE) | O_RDWR;
    try {
      return this.caller_.run(caller, () => on(cipherPath, (p) => fs.openSync(p, backing, mode)));
    } catch (err) {
      if (errnoOf(err) !== 13 || (flags & O_ACCMODE) !== O_WRONLY || process.getuid?.() !== 0) throw err;
      let proof: number;
      try {
        // The caller's own open, as asked (less O_TRUNC, done here): it creates nothing, so one
        // that was refused for creating (the directory is not theirs) keeps its EACCES.
        proof = this.caller_.run(caller, () => on(cipherPath, (p) => fs.openSync(p, (flags & ~BACKING_DROPPED) & ~(O_CREAT | O_EXCL))));
      } catch {
        throw err;
      }
      fs.closeSync(proof);
      return on(cipherPath, (p) => fs.openSync(p, backing & ~(O_CREAT | O_EXCL)));
    }
  }

  private registerOpen(fd: number, flags: number, path: string): OpenReply {
    const ino = fs.fstatSync(fd, { bigint: true }).ino;
    const file = this.open_.add(fd, ino, (flags & O_APPEND) !== 0);
    // O_RDONLY|O_TRUNC truncates too (Linux does, and openBacking checked the right to write).
    if ((flags & O_TRUNC) !== 0) {
      if (file.entry.lock.idle && file.entry.pending.size === 0) {
        fs.ftruncateSync(fd, 0);
        file.entry.fileId = undefined;
        file.entry.ahead = undefined;
        file.entry.repairs.splice(0); // nothing left to put back
      } else {
        // Another open is mid-write (or has writes in flight): queue the truncation behind it
        // (the lock is FIFO, so this open's own reads and writes come after it).
        this.files.truncate(file, path, 0).catch((err: unknown) => this.corruption.report(`trunc:${fd}`, `truncating ${path} on open failed: ${String(err)}`));
      }
    }
    return { fh: fd };
  }

  private file(fh: number, path: string): OpenFile {
    const file = this.open_.get(fh);
    if (!file) throw SysError.of('EBADF', 'read', path);
    return file;
  }

  override read(path: string, fh: number, buffer: Buffer, position: number): Promise<number> {
    return this.files.read(this.file(fh, path), path, buffer, position);
  }

  override write(path: string, fh: number, data: Buffer, position: number): Promise<number> {
    return this.files.write(this.file(fh, path), path, data, position);
  }

  /** close(): writes still in flight land, and a failure among them is the close's error. */
  override flush(path?: string, fh?: number): Promise<void> | void {
    const file = fh === undefined ? undefined : this.open_.get(fh);
    if (file && (file.entry.pending.size > 0 || file.entry.failure !== undefined || file.entry.repairs.length > 0)) return this.files.settle(file, path ?? '');
  }

  override fsync(path: string, fh: number, datasync: boolean): Promise<void> {
    return this.files.settle(this.file(fh, path), path).then(() => super.fsync(path, fh, datasync));
  }

  /**
   * The last close: writes still in flight land first (their failures were reported by flush),
   * and what failed writes left is undone while the descriptor is still open.
   */
  override release(path: string, fh: number): void | Promise<void> {
    const file = this.open_.get(fh);
    if (!file) return;
    const close = (): void => {
      if (this.open_.remove(fh)) fs.closeSync(fh);
    };
    if (file.entry.pending.size === 0 && file.entry.repairs.length === 0) return close();
    return this.files.finish(file, path).then(close, close);
  }

  /** fallocate(2): modes 0 and KEEP_SIZE, on the encrypted range (never the pass-through's, which would take plaintext offsets). */
  override fallocate(path: string, fh: number, mode: number, offset: number, length: number): Promise<void> {
    return this.files.allocate(this.file(fh, path), path, mode, offset, length);
  }

  override truncate(path: string, size: number, fh: number | undefined, caller: Caller): Promise<void> | void {
    if (fh !== undefined) return this.files.truncate(this.file(fh, path), path, size);
    // A path truncate: open (as the caller, which checks the right to write), truncate, close.
    const fd = this.openBacking(this.real(path), O_WRONLY, caller);
    const file = this.open_.add(fd, fs.fstatSync(fd, { bigint: true }).ino, false);
    return this.files.truncate(file, path, size).finally(() => this.release(path, fd));
  }

  async destroy(): Promise<void> {
    // Descriptors the kernel never released (a forced unmount) are closed with the session.
    await Promise.all(this.open_.descriptors().map((fd) => this.release('', fd)));
    await this.pool?.close();
    if (this.rootFd !== undefined) fs.closeSync(this.rootFd);
  }

  // ---- extended attributes ----

  override setxattr(path: string, name: string, value: Buffer, flags: number, caller: Caller): void {
    super.setxattr(path, this.xattrs.encryptName(name, path), this.xattrs.sealValue(value), flags, caller);
  }

  /** As the caller: reading a user.* attribute needs the right to read the file. */
  override getxattr(path: string, name: string, caller?: Caller): Buffer {
    // The kernel asks for security.capability before every write; capabilities never apply
    // on a FUSE mount (nosuid), so answer at once, as gocryptfs does.
    if (name === 'security.capability' || name.startsWith('system.')) throw ENODATA;
    const stored = this.as(caller, () => super.getxattr(path, this.xattrs.encryptName(name, path)));
    return this.xattrs.openValue(stored, name, path);
  }

  override listxattr(path: string, caller?: Caller): string[] {
    return this.as(caller, () => super.listxattr(path)).flatMap((stored) => this.xattrs.decryptName(stored) ?? []);
  }

  override removexattr(path: string, name: string, caller: Caller): void {
    super.removexattr(path, this.xattrs.encryptName(name, path), caller);
  }
}

/** Removes a file the server made (a sidecar or diriv being rolled back), if it is there. */
function removeQuietly(path: string): void {
  try {
    on(path, (p) => fs.rmSync(p, { force: true }));
  } catch {
    // Its directory is gone or unreachable: nothing to remove.
  }
}
