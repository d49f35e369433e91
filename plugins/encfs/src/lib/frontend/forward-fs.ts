import * as fs from 'node:fs';
import { AsCaller, PassthroughFileSystem, SysError, libc, listDirectory, withUsablePath as on, type Attr, type Caller, type DirEntry, type OpenReply } from '@kmx/core';
import { ContentEnc } from '../contentenc/index.js';
import { randomPool } from '../cryptocore/index.js';
import type { CryptoPool } from '../cryptopool/index.js';
import { BadNameError, type NameTransform } from '../nametransform/index.js';
import { CipherEntries } from './cipher-entries.js';
import type { CipherTree } from './cipher-tree.js';
import type { CorruptionLog } from './corruption-log.js';
import { FileContent } from './file-content.js';
import { openBacking } from './open-backing.js';
import { OpenFileTable, type OpenFile } from './open-files.js';
import type { XattrCrypt } from './xattrs.js';

const { O_WRONLY, O_APPEND, O_TRUNC, O_CREAT } = fs.constants;
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
  private readonly entries: CipherEntries;
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
    this.entries = new CipherEntries(options.tree, this.caller_);
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

  // ---- names (entries and what the format keeps beside them: cipher-entries.ts) ----

  override mknod(path: string, mode: number, rdev: number, caller: Caller): void {
    this.entries.mknod(path, mode, rdev, caller);
  }

  override mkdir(path: string, mode: number, caller: Caller): void {
    this.entries.mkdir(path, mode, caller);
  }

  override symlink(target: string, path: string, caller: Caller): void {
    const stored = this.names.plaintext ? target : this.names.b64.encode(this.content.sealValue(Buffer.from(target, 'utf8'), randomPool.take(16)));
    this.entries.symlink(stored, path, caller);
  }

  override link(existing: string, path: string, caller: Caller): void {
    this.entries.link(this.real(existing), path, caller);
  }

  override unlink(path: string, caller: Caller): void {
    this.entries.unlink(path, caller);
  }

  override rmdir(path: string, caller: Caller): void {
    this.entries.rmdir(path, caller);
  }

  override rename(from: string, to: string, flags: number, caller: Caller): void {
    this.entries.rename(from, to, flags, caller);
  }

  // ---- open files ----

  override open(path: string, flags: number, caller: Caller): OpenReply {
    const fd = openBacking(this.caller_, this.real(path), flags, caller);
    return this.registerOpen(fd, flags, path);
  }

  override create(path: string, mode: number, flags: number, caller: Caller): OpenReply {
    const fd = this.entries.make(path, caller, (entry) => openBacking(this.caller_, entry.path, flags | O_CREAT, caller, mode));
    return this.registerOpen(fd, flags, path);
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
    const fd = openBacking(this.caller_, this.real(path), O_WRONLY, caller);
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
