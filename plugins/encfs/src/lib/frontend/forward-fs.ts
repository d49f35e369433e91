import * as fs from 'node:fs';
import { AsCaller, PassthroughFileSystem, SysError, errnoOf, libc, listDirectory, type Attr, type Caller, type DirEntry, type OpenReply } from '@kmx/core';
import { ContentEnc } from '../contentenc/index.js';
import { randomPool } from '../cryptocore/index.js';
import type { CryptoPool } from '../cryptopool/index.js';
import { BadNameError, DIRIV_BYTES, DIRIV_NAME, LONGNAME_SUFFIX, type NameTransform } from '../nametransform/index.js';
import type { CipherEntry, CipherTree } from './cipher-tree.js';
import type { CorruptionLog } from './corruption-log.js';
import { FileContent } from './file-content.js';
import { OpenFileTable, type OpenFile } from './open-files.js';
import type { XattrCrypt } from './xattrs.js';

const { O_RDONLY, O_RDWR, O_WRONLY, O_APPEND, O_TRUNC, O_CREAT, O_EXCL, O_NOCTTY, O_DIRECT } = fs.constants;
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

  constructor(options: ForwardOptions) {
    super(options.tree.root);
    this.tree = options.tree;
    this.names = options.tree.names;
    this.content = options.content;
    this.xattrs = options.xattrs;
    this.corruption = options.corruption;
    this.files = new FileContent(options.content, options.corruption, options.pool);
    this.pool = options.pool;
  }

  protected override real(path: string): string {
    return this.tree.cipherPath(path);
  }

  // ---- attributes ----

  override getattr(path: string, fh?: number): Attr {
    return this.plainAttr(super.getattr(path, fh), path);
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

  override readlink(path: string): string {
    const stored = super.readlink(path);
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
    for (const { name: onDisk, attr } of listDirectory(dir)) {
      if (this.names.isInternal(onDisk, atRoot)) continue;
      let name: string;
      try {
        name = this.names.decryptName(this.tree.fullName(dir, onDisk), iv);
      } catch (err) {
        const why = err instanceof BadNameError ? err.reason : err instanceof Error ? err.message : String(err);
        this.corruption.report(`name:${dir}/${onDisk}`, `bad name ${onDisk} in ${dir} (shown as ${path}): ${why}; it is hidden`);
        continue;
      }
      const childPath = atRoot ? `/${name}` : `${path}/${name}`;
      entries.push(attr ? { name, attr: this.plainAttr(attr, childPath) } : { name });
    }
    return entries;
  }

  // ---- names ----

  /** Makes a new entry: its .name sidecar first for a long name (removed again if making fails). */
  private makeEntry<T>(path: string, caller: Caller, make: (entry: CipherEntry) => T): T {
    const entry = this.tree.entry(path);
    const sidecar = entry.name.longName !== undefined && this.writeSidecar(entry, caller);
    try {
      return make(entry);
    } catch (err) {
      if (sidecar) fs.rmSync(`${entry.path}${LONGNAME_SUFFIX}`, { force: true });
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
      fd = this.caller_.run(caller, () => fs.openSync(sidecar, 'wx', 0o444));
    } catch (err) {
      if (errnoOf(err) === 17) return false;
      throw err;
    }
    try {
      fs.writeFileSync(fd, entry.name.longName!);
    } catch (err) {
      fs.rmSync(sidecar, { force: true });
      throw err;
    } finally {
      fs.closeSync(fd);
    }
    return true;
  }

  private removeSidecar(entry: CipherEntry): void {
    if (entry.name.longName !== undefined) fs.rmSync(`${entry.path}${LONGNAME_SUFFIX}`, { force: true });
  }

  override mknod(path: string, mode: number, rdev: number, caller: Caller): void {
    this.makeEntry(path, caller, (entry) => this.caller_.run(caller, () => libc.mknodat(libc.AT_FDCWD, entry.path, mode, rdev)));
  }

  override mkdir(path: string, mode: number, caller: Caller): void {
    this.makeEntry(path, caller, (entry) => {
      if (!this.tree.useDirIv) {
        this.caller_.run(caller, () => fs.mkdirSync(entry.path, mode));
        return;
      }
      // The directory must be writable to its owner while its diriv is written.
      const writable = (mode & 0o300) === 0o300;
      this.caller_.run(caller, () => fs.mkdirSync(entry.path, writable ? mode : mode | 0o300));
      try {
        this.caller_.run(caller, () => fs.writeFileSync(`${entry.path}/${DIRIV_NAME}`, randomPool.take(DIRIV_BYTES), { mode: 0o444, flag: 'wx' }));
        if (!writable) this.caller_.run(caller, () => fs.chmodSync(entry.path, mode));
      } catch (err) {
        fs.rmSync(entry.path, { recursive: true, force: true });
        throw err;
      }
    });
  }

  override symlink(target: string, path: string, caller: Caller): void {
    const stored = this.names.plaintext ? target : this.names.b64.encode(this.content.sealValue(Buffer.from(target, 'utf8'), randomPool.take(16)));
    this.makeEntry(path, caller, (entry) => this.caller_.run(caller, () => fs.symlinkSync(stored, entry.path)));
  }

  override link(existing: string, path: string, caller: Caller): void {
    const from = this.real(existing);
    this.makeEntry(path, caller, (entry) => this.caller_.run(caller, () => fs.linkSync(from, entry.path)));
  }

  override unlink(path: string, caller: Caller): void {
    const entry = this.tree.entry(path);
    this.caller_.run(caller, () => fs.unlinkSync(entry.path));
    this.removeSidecar(entry);
  }

  override rmdir(path: string, caller: Caller): void {
    const entry = this.tree.entry(path);
    const dir = entry.path;
    const listing = fs.readdirSync(dir);
    const hasDirIv = listing.includes(DIRIV_NAME);
    if (listing.length > (hasDirIv ? 1 : 0)) throw SysError.of('ENOTEMPTY', 'rmdir', path);
    let iv: Buffer | undefined;
    if (hasDirIv) {
      iv = fs.readFileSync(`${dir}/${DIRIV_NAME}`);
      // The diriv goes first (as the caller where the directory lets them, else as the server).
      try {
        this.caller_.run(caller, () => fs.unlinkSync(`${dir}/${DIRIV_NAME}`));
      } catch {
        fs.unlinkSync(`${dir}/${DIRIV_NAME}`);
      }
    }
    try {
      this.caller_.run(caller, () => fs.rmdirSync(dir));
    } catch (err) {
      if (iv) this.restoreDirIv(dir, iv);
      throw err;
    }
    this.removeSidecar(entry);
    this.tree.invalidate();
  }

  private restoreDirIv(dir: string, iv: Buffer): void {
    const owner = fs.statSync(dir);
    fs.writeFileSync(`${dir}/${DIRIV_NAME}`, iv, { mode: 0o444 });
    fs.chownSync(`${dir}/${DIRIV_NAME}`, owner.uid, owner.gid);
  }

  override rename(from: string, to: string, flags: number, caller: Caller): void {
    const source = this.tree.entry(from);
    const target = this.tree.entry(to);
    const exchange = (flags & 2) !== 0; // RENAME_EXCHANGE: both names stay, so do their sidecars
    let sidecar = !exchange && target.name.longName !== undefined && this.writeSidecar(target, caller);
    const move = (): void => this.caller_.run(caller, () => {
      if (flags === 0) fs.renameSync(source.path, target.path);
      else libc.renameat2(libc.AT_FDCWD, source.path, libc.AT_FDCWD, target.path, flags);
    });
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
      if (sidecar) fs.rmSync(`${target.path}${LONGNAME_SUFFIX}`, { force: true });
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
   */
  private openBacking(cipherPath: string, flags: number, caller: Caller, mode = 0o644): number {
    let backing = flags & ~BACKING_DROPPED;
    if ((flags & O_ACCMODE) === O_WRONLY) backing = (backing & ~O_ACCMODE) | O_RDWR;
    try {
      return this.caller_.run(caller, () => fs.openSync(cipherPath, backing, mode));
    } catch (err) {
      if (errnoOf(err) !== 13 || (flags & O_ACCMODE) !== O_WRONLY || process.getuid?.() !== 0) throw err;
      fs.closeSync(this.caller_.run(caller, () => fs.openSync(cipherPath, (flags & ~BACKING_DROPPED) & ~(O_CREAT | O_EXCL))));
      return fs.openSync(cipherPath, backing & ~(O_CREAT | O_EXCL));
    }
  }

  private registerOpen(fd: number, flags: number, path: string): OpenReply {
    const ino = fs.fstatSync(fd, { bigint: true }).ino;
    const file = this.open_.add(fd, ino, (flags & O_APPEND) !== 0);
    if ((flags & O_TRUNC) !== 0 && (flags & O_ACCMODE) !== O_RDONLY) {
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
  }

  // ---- extended attributes ----

  override setxattr(path: string, name: string, value: Buffer, flags: number, caller: Caller): void {
    super.setxattr(path, this.xattrs.encryptName(name, path), this.xattrs.sealValue(value), flags, caller);
  }

  override getxattr(path: string, name: string): Buffer {
    // The kernel asks for security.capability before every write; capabilities never apply
    // on a FUSE mount (nosuid), so answer at once, as gocryptfs does.
    if (name === 'security.capability' || name.startsWith('system.')) throw ENODATA;
    return this.xattrs.openValue(super.getxattr(path, this.xattrs.encryptName(name, path)), name, path);
  }

  override listxattr(path: string): string[] {
    return super.listxattr(path).flatMap((stored) => this.xattrs.decryptName(stored) ?? []);
  }

  override removexattr(path: string, name: string, caller: Caller): void {
    super.removexattr(path, this.xattrs.encryptName(name, path), caller);
  }
}
