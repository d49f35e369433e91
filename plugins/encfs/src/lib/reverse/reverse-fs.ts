import * as fs from 'node:fs';
import { AsCaller, SysError, attrFromStats, type Attr, type Caller, type DirEntry, type FileSystem, type OpenReply, type StatFs } from '@kmx/core';
import type { CryptoPool } from '../cryptopool/index.js';
import { DIRIV_BYTES, DIRIV_NAME, LONGNAME_SUFFIX } from '../nametransform/index.js';
import { InoKind, type InoKindValue, type InoMap } from './ino-map.js';
import { VIRTUAL_ROOT, type PlainDir } from './plain-tree.js';
import type { ReverseContent, ReverseFile } from './reverse-content.js';
import { CONFIG_NAME, childCPath, type ReverseNode, type ReverseResolver } from './resolver.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const W_OK = 2;
/** Handles of virtual files (diriv, .name, config) start here; backing descriptors stay far below. */
const VIRTUAL_HANDLES = 2 ** 30;

export interface ReverseOptions {
  resolver: ReverseResolver;
  content: ReverseContent;
  inos: InoMap;
  /** The config as the view shows it (gocryptfs.conf) and the file whose attributes it takes. */
  config: { bytes: Buffer; file: string };
  /** The crypto workers the content reads use, closed with the session. */
  pool?: CryptoPool;
}

/**
 * The read-only, deterministic encrypted view of plaintext directories (gocryptfs's reverse
 * mode): names are encrypted under IVs derived from their encrypted paths, content with
 * AES-SIV under derived nonces; each directory shows a virtual gocryptfs.diriv, long names a
 * virtual .name file, and the root the config as gocryptfs.conf. A copy of the view is an
 * ordinary CIPHERDIR. Times and owners are the plaintext ones, so incremental backups work.
 */
export class ReverseFileSystem implements FileSystem {
  private readonly resolver: ReverseResolver;
  private readonly content: ReverseContent;
  private readonly inos: InoMap;
  private readonly config: { bytes: Buffer; file: string };
  private readonly asCaller = new AsCaller();
  private readonly files = new Map<number, ReverseFile>();
  private readonly virtualFiles = new Map<number, Buffer>();
  private nextVirtual = VIRTUAL_HANDLES;
  private readonly pool: CryptoPool | undefined;

  constructor(options: ReverseOptions) {
    this.resolver = options.resolver;
    this.content = options.content;
    this.inos = options.inos;
    this.config = options.config;
    this.pool = options.pool;
    for (const root of this.resolver.tree.realRoots) this.inos.register(fs.statSync(root, { bigint: true }).dev);
  }

  getattr(path: string): Attr {
    return this.attrOf(this.resolver.resolve(path));
  }

  private attrOf(node: ReverseNode): Attr {
    switch (node.kind) {
      case 'real':
        return this.realAttr(node.plain, node.cPath);
      case 'dirIv':
        return this.virtualFile(this.statOf(node.dir), DIRIV_BYTES, InoKind.dirIv, 0o444, node.dir === VIRTUAL_ROOT ? this.inos.virtual(1) : undefined);
      case 'longName':
        return this.virtualFile(fs.lstatSync(node.entry, { bigint: true }), node.longName.length, InoKind.longName, 0o444);
      case 'config':
        return this.virtualFile(fs.statSync(this.config.file, { bigint: true }), this.config.bytes.length, InoKind.real, 0o400);
    }
  }

  /** A plaintext entry's attributes, with the sizes of their encrypted forms. */
  private realAttr(plain: PlainDir, cPath: string): Attr {
    if (plain === VIRTUAL_ROOT) return this.virtualRootAttr();
    const st = fs.lstatSync(plain, { bigint: true });
    const attr = attrFromStats(st);
    attr.ino = this.inos.map(st.dev, st.ino, InoKind.real);
    const type = attr.mode & S_IFMT;
    const enc = this.content.enc;
    if (type === S_IFREG) {
      attr.size = enc.layout.cipherSize(attr.size);
      this.content.ivPath(st.dev, st.ino, st.nlink, cPath); // a hard link seen first decides its IVs
    }
    // A link's size is its target's length; the view shows base64 of nonce ‖ sealed target.
    else if (type === S_IFLNK && !this.resolver.names.plaintext) attr.size = Math.ceil(((attr.size + enc.aead.overhead) * 4) / 3);
    return attr;
  }

  private statOf(dir: PlainDir): fs.BigIntStats {
    return fs.lstatSync(dir === VIRTUAL_ROOT ? this.config.file : dir, { bigint: true });
  }

  /** A multi-source root: read-only, owned by the config's owner, with the config's times. */
  private virtualRootAttr(): Attr {
    const attr = attrFromStats(fs.statSync(this.config.file, { bigint: true }));
    return { ...attr, mode: S_IFDIR | 0o555, nlink: 2, size: 4096, ino: this.inos.virtual(0) };
  }

  /** A virtual file taking its times and owner from `base` (so backups see it change with it). */
  private virtualFile(base: fs.BigIntStats, size: number, kind: InoKindValue, perm: number, ino?: number): Attr {
    const attr = attrFromStats(base);
    return { ...attr, mode: S_IFREG | perm, nlink: 1, size, blocks: Math.ceil(size / 512), rdev: 0, ino: ino ?? this.inos.map(base.dev, base.ino, kind) };
  }

  access(path: string, mask: number, caller: Caller): void {
    if (mask & W_OK) throw SysError.of('EROFS', 'access', path);
    const node = this.resolver.resolve(path);
    if (node.kind === 'real' && node.plain !== VIRTUAL_ROOT) this.asCaller.run(caller, () => fs.accessSync(node.plain as string, mask));
  }

  readlink(path: string): string {
    const node = this.resolver.resolve(path);
    if (node.kind !== 'real' || node.plain === VIRTUAL_ROOT) throw SysError.of('EINVAL', 'readlink', path);
    const target = fs.readlinkSync(node.plain);
    if (this.resolver.names.plaintext) return target;
    return this.resolver.names.b64.encode(this.content.sealLinkTarget(target, node.cPath));
  }

  readdir(path: string): DirEntry[] {
    const node = this.resolver.resolve(path);
    if (node.kind !== 'real') throw SysError.of('ENOTDIR', 'readdir', path);
    const { plain, cPath } = node;
    const tree = this.resolver.tree;
    const names = tree.list(plain);
    const entries: DirEntry[] = [];
    if (this.resolver.useDirIv) entries.push({ name: DIRIV_NAME, attr: this.attrOf({ kind: 'dirIv', dir: plain, cPath }) });
    if (cPath === '') entries.push({ name: CONFIG_NAME, attr: this.attrOf({ kind: 'config' }) });
    for (const name of names) {
      const child = tree.child(plain, name);
      const onDisk = this.resolver.encrypt(cPath, name);
      let attr: Attr;
      try {
        attr = this.realAttr(child, childCPath(cPath, onDisk.name));
      } catch {
        continue; // removed since the listing
      }
      entries.push({ name: onDisk.name, attr });
      if (onDisk.longName !== undefined) {
        entries.push({ name: onDisk.name + LONGNAME_SUFFIX, attr: this.attrOf({ kind: 'longName', entry: child, entryCPath: childCPath(cPath, onDisk.name), longName: onDisk.longName }) });
      }
    }
    return entries;
  }

  open(path: string, flags: number, caller: Caller): OpenReply {
    if ((flags & 3) !== fs.constants.O_RDONLY) throw SysError.of('EROFS', 'open', path);
    const node = this.resolver.resolve(path);
    if (node.kind === 'real') {
      if (node.plain === VIRTUAL_ROOT) throw SysError.of('EISDIR', 'open', path);
      const plain = node.plain;
      const fd = this.asCaller.run(caller, () => fs.openSync(plain, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW));
      this.files.set(fd, this.content.openFile(fd, node.cPath));
      return { fh: fd };
    }
    const fh = this.nextVirtual++;
    if (this.nextVirtual >= 2 ** 31 - 1) this.nextVirtual = VIRTUAL_HANDLES;
    this.virtualFiles.set(fh, this.virtualContent(node));
    return { fh };
  }

  private virtualContent(node: Exclude<ReverseNode, { kind: 'real' }>): Buffer {
    switch (node.kind) {
      case 'dirIv':
        return this.resolver.dirIv(node.cPath);
      case 'longName':
        return Buffer.from(node.longName, 'ascii');
      case 'config':
        return this.config.bytes;
    }
  }

  read(path: string, fh: number, buffer: Buffer, position: number): Promise<number> | number {
    const file = this.files.get(fh);
    if (file) return this.content.read(file, buffer, position);
    const data = this.virtualFiles.get(fh);
    if (!data) throw SysError.of('EBADF', 'read', path);
    return position >= data.length ? 0 : data.copy(buffer, 0, position);
  }

  release(_path: string, fh: number): void {
    if (this.virtualFiles.delete(fh)) return;
    if (this.files.delete(fh)) fs.closeSync(fh);
  }

  statfs(): StatFs {
    const s = fs.statfsSync(this.resolver.tree.realRoots[0] ?? this.config.file);
    return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namemax: 255 };
  }

  listxattr(): string[] {
    return []; // as gocryptfs -reverse: attributes are not part of the encrypted view
  }

  async destroy(): Promise<void> {
    for (const fd of this.files.keys()) fs.closeSync(fd);
    this.files.clear();
    this.virtualFiles.clear();
    await this.pool?.close();
  }
}
