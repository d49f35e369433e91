import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { KmxError, SysError, errnoMessage, errnoName, errnoOf, libc } from '@kmx/core';
import type { Attributes, InputAttributes } from 'ssh2';
import { sftpOverStream, type SFTPInternals } from '../protocol/adapter.js';
import { OpenFlag } from '../protocol/session.js';
import { Status } from '../protocol/errors.js';
import { KMX_POSIX, KMX_POSIX_VERSION } from '../protocol/kmx-posix.js';
import { applyAttrs, attrsOf, attrsPacket, checkSizable, longname, namePacket, parseAttrs } from './attributes.js';
import { ConfinedRoot, clientPath } from './confined-root.js';
import { fstatfs, linkat, readDirectory, readlinkat } from './fd-calls.js';

const { O_PATH, O_NOFOLLOW, O_RDONLY, O_DIRECTORY, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, AT_REMOVEDIR } = libc;
const { O_WRONLY, O_NONBLOCK, O_NOCTTY } = fs.constants;

/** What the server announces, besides SFTP v3 itself: the OpenSSH extensions sshfs and kmx use. */
const EXTENSIONS: Record<string, string> = {
  'posix-rename@openssh.com': '1',
  'statvfs@openssh.com': '2',
  'hardlink@openssh.com': '1',
  'fsync@openssh.com': '1',
  'lsetstat@openssh.com': '1',
  'limits@openssh.com': '1',
  // kmx's own, for a kmx client (README: kmx sftp, "Both ends kmx"; protocol/kmx-posix.ts).
  [KMX_POSIX]: String(KMX_POSIX_VERSION),
};

const { S_IFMT, S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK } = fs.constants;

const MAX_PACKET = 256 * 1024;
/** As OpenSSH's sftp-server: a packet less the room for the header. */
const MAX_DATA = MAX_PACKET - 1024;
const MAX_HANDLES = 1024;
const NAMES_PER_READDIR = 100;
const SSH_FXP_EXTENDED_REPLY = 201;
const RENAME_NOREPLACE = 1;

interface FileHandle {
  kind: 'file';
  fd: number;
}

interface DirHandle {
  kind: 'dir';
  fd: number;
  /** The client's path for it, to find its '..' inside the root. */
  path: string;
  names: string[] | undefined;
  next: number;
}

export interface ServeOptions {
  root: string;
  readOnly: boolean;
  log: (line: string) => void;
}

/**
 * An SFTP v3 server (ssh2's SFTP class in server mode, over any byte stream) serving one
 * directory as `/` (ConfinedRoot). Requests are answered synchronously, in order, one client
 * per process: the far end of `kmx sftp mount --via`, of OpenSSH's `sftp -D` and of
 * `sshfs -o passive`. Errors carry the errno name first in their message, which kmx's client
 * reads back (SFTP v3 itself says little more than "failure").
 *
 * Confinement: each request resolves its path once, beneath the root (ConfinedRoot), to an
 * fd or to a pinned parent and one name, and acts on that: f* and *at calls only, never a
 * path string the kernel would resolve again (and follow a symlink in) on its own.
 */
export class SftpServer {
  private readonly root: ConfinedRoot;
  private readonly handles = new Map<number, FileHandle | DirHandle>();
  private nextHandle = 1;
  private closed = false;
  /** The client turned kmx's extension on: every ATTRS carries the STAT RECORD. */
  private kmxPosix = false;
  private readonly sftp: SFTPInternals;
  private readonly sendPacket: (packet: Buffer) => void;
  /** Resolves when the client is gone: at the end of its input, or after a protocol error (rejected then). */
  readonly ended: Promise<void>;

  constructor(input: Readable, output: Writable, private readonly options: ServeOptions) {
    this.root = new ConfinedRoot(options.root);
    const { sftp, sendPacket } = sftpOverStream(input, output, { server: true, extensions: EXTENSIONS });
    this.sftp = sftp;
    this.sendPacket = sendPacket;
    this.ended = new Promise((resolve, reject) => {
      sftp.once('end', () => {
        this.closeAll();
        resolve();
      });
      // A client that sends garbage is cut off: ssh2 closes the output, and so do we.
      sftp.once('error', (err: Error) => {
        this.closeAll();
        reject(new KmxError(`the client broke the SFTP protocol: ${err.message}`, { hint: 'is the other end an SFTP client?' }));
      });
    });
    this.register();
  }

  private register(): void {
    const s = this.sftp;
    const on = <A extends unknown[]>(event: string, handler: (id: number, ...args: A) => void): void => {
      s.on(event, (id: number, ...args: A) => {
        try {
          handler(id, ...args);
        } catch (err) {
          this.fail(id, err);
        }
      });
    };
    on('OPEN', (id, path: string, flags: number, attrs: Attributes) => this.openFile(id, path, flags, attrs));
    on('READ', (id, handle: Buffer, offset: number, length: number) => this.read(id, handle, offset, length));
    on('WRITE', (id, handle: Buffer, offset: number, data: Buffer) => {
      this.writable('write');
      const fd = this.file(handle).fd;
      for (let done = 0; done < data.length;) done += fs.writeSync(fd, data, done, data.length - done, offset + done);
      s.status(id, Status.OK);
    });
    on('FSTAT', (id, handle: Buffer) => this.attrs(id, fs.fstatSync(this.anyHandle(handle).fd, { bigint: true })));
    on('FSETSTAT', (id, handle: Buffer, attrs: InputAttributes) => {
      this.writable('fsetstat');
      applyAttrs(this.anyHandle(handle).fd, attrs);
      s.status(id, Status.OK);
    });
    on('CLOSE', (id, handle: Buffer) => {
      const h = this.anyHandle(handle);
      this.handles.delete(handle.readUInt32BE(0));
      fs.closeSync(h.fd);
      s.status(id, Status.OK);
    });
    on('OPENDIR', (id, path: string) => {
      const fd = this.root.open(path, O_RDONLY | O_DIRECTORY);
      s.handle(id, this.addHandle({ kind: 'dir', fd, path, names: undefined, next: 0 }));
    });
    on('READDIR', (id, handle: Buffer) => this.readdir(id, handle));
    on('LSTAT', (id, path: string) => this.attrs(id, this.root.pinned(path, false, (fd) => fs.fstatSync(fd, { bigint: true }))));
    on('STAT', (id, path: string) => this.attrs(id, this.root.pinned(path, true, (fd) => fs.fstatSync(fd, { bigint: true }))));
    on('SETSTAT', (id, path: string, attrs: InputAttributes) => this.change(id, 'setstat', () => this.setAttributes(path, attrs, true)));
    on('REMOVE', (id, path: string) => this.change(id, 'unlink', () => this.root.entry(path, 'unlink', (dirFd, name) => libc.unlinkat(dirFd, name, 0))));
    on('RMDIR', (id, path: string) => this.change(id, 'rmdir', () => this.root.entry(path, 'rmdir', (dirFd, name) => libc.unlinkat(dirFd, name, AT_REMOVEDIR))));
    on('MKDIR', (id, path: string, attrs: Attributes) => this.change(id, 'mkdir', () => this.root.entry(path, 'mkdir', (dirFd, name) => libc.mkdirat(dirFd, name, (attrs.mode ?? 0o777) & 0o7777))));
    on('RENAME', (id, from: string, to: string) => this.change(id, 'rename', () => this.rename(from, to, RENAME_NOREPLACE)));
    // ssh2 (as an OpenSSH peer) hands the arguments over as (link, target). The target is
    // only text here; any later lookup through the link resolves it beneath the root.
    on('SYMLINK', (id, linkPath: string, target: string) => this.change(id, 'symlink', () => this.root.entry(linkPath, 'symlink', (dirFd, name) => libc.symlinkat(clientPath(target, 'symlink'), dirFd, name))));
    on('READLINK', (id, path: string) => {
      const target = this.root.pinned(path, false, (fd) => readlinkat(fd, ''));
      s.name(id, [{ filename: target, longname: target, attrs: {} as Attributes }]);
    });
    on('REALPATH', (id, path: string) => {
      const real = this.root.realpath(path);
      s.name(id, [{ filename: real, longname: real, attrs: {} as Attributes }]);
    });
    on('EXTENDED', (id, name: string, data: Buffer | undefined) => this.extended(id, name, data ?? Buffer.alloc(0)));
  }

  // ---- helpers ----

  private fail(id: number, err: unknown): void {
    const errno = errnoOf(err);
    if (errno === undefined) {
      this.options.log(`request ${id}: ${err instanceof Error ? err.message : String(err)}`);
      this.sftp.status(id, Status.FAILURE, err instanceof Error ? err.message : String(err));
      return;
    }
    const name = errnoName(errno);
    const code = name === 'ENOENT' ? Status.NO_SUCH_FILE : name === 'EACCES' || name === 'EPERM' || name === 'EROFS' ? Status.PERMISSION_DENIED : Status.FAILURE;
    this.sftp.status(id, code, `${name}: ${errnoMessage(errno)}`);
  }

  /** An ATTRS reply; with kmx's extension on, with the STAT RECORD. */
  private attrs(id: number, st: fs.BigIntStats): void {
    this.sendPacket(attrsPacket(id, attrsOf(st, this.kmxPosix)));
  }

  private writable(syscall: string): void {
    if (this.options.readOnly) throw SysError.of('EROFS', syscall);
  }

  private change(id: number, syscall: string, action: () => void): void {
    this.writable(syscall);
    action();
    this.sftp.status(id, Status.OK);
  }

  /**
   * SETSTAT (`follow`) and lsetstat@openssh.com: the object is pinned beneath the root, its
   * final symlink followed inside the root or not at all, and changed through that fd. A size
   * needs an fd open for writing: only a regular file gets one, opened beneath the root again
   * (O_NOFOLLOW without `follow`) and checked to be the very file pinned; a symlink's size is
   * refused (truncate(2) would cut the file it points to).
   */
  private setAttributes(path: string, attrs: InputAttributes, follow: boolean): void {
    this.root.pinned(path, follow, (pinned) => {
      if (attrs.size === undefined) return applyAttrs(pinned, attrs);
      const st = fs.fstatSync(pinned);
      checkSizable(st, path);
      const fd = this.root.open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
      try {
        const now = fs.fstatSync(fd);
        if (now.dev !== st.dev || now.ino !== st.ino) throw SysError.of('EAGAIN', 'setstat', path, { detail: 'it was replaced meanwhile' });
        applyAttrs(fd, attrs);
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  /** The stat of one listed name: '.' is the directory, '..' its parent inside the root (the root's own is the root). */
  private entryStat(h: DirHandle, name: string): fs.BigIntStats {
    if (name === '.') return fs.fstatSync(h.fd, { bigint: true });
    if (name === '..') return this.root.pinned(`${h.path.replace(/\/+$/, '')}/..`, true, (fd) => fs.fstatSync(fd, { bigint: true }));
    // One plain name from the listing, beneath the directory's fd, not followed.
    const fd = libc.openat2(h.fd, name, { flags: O_PATH | O_NOFOLLOW | libc.O_CLOEXEC, resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS });
    try {
      return fs.fstatSync(fd, { bigint: true });
    } finally {
      fs.closeSync(fd);
    }
  }

  private addHandle(h: FileHandle | DirHandle): Buffer {
    if (this.handles.size >= MAX_HANDLES) {
      fs.closeSync(h.fd);
      throw SysError.of('EMFILE', 'open');
    }
    while (this.handles.has(this.nextHandle)) this.nextHandle = (this.nextHandle % 0xfffffffe) + 1;
    const number = this.nextHandle;
    this.nextHandle = (this.nextHandle % 0xfffffffe) + 1;
    this.handles.set(number, h);
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(number, 0);
    return buffer;
  }

  private anyHandle(handle: Buffer): FileHandle | DirHandle {
    const h = handle.length === 4 ? this.handles.get(handle.readUInt32BE(0)) : undefined;
    if (!h) throw SysError.of('EBADF', 'handle');
    return h;
  }

  private file(handle: Buffer): FileHandle {
    const h = this.anyHandle(handle);
    if (h.kind !== 'file') throw SysError.of('EISDIR', 'read');
    return h;
  }

  private closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.handles.values()) fs.closeSync(h.fd);
    this.handles.clear();
    this.root.close();
  }

  // ---- requests ----

  private openFile(id: number, path: string, pflags: number, attrs: Attributes): void {
    const wants = (bit: number): boolean => (pflags & bit) !== 0;
    if (wants(OpenFlag.WRITE) || wants(OpenFlag.CREAT) || wants(OpenFlag.TRUNC) || wants(OpenFlag.APPEND)) this.writable('open');
    let flags = wants(OpenFlag.READ) && wants(OpenFlag.WRITE) ? fs.constants.O_RDWR : wants(OpenFlag.WRITE) ? fs.constants.O_WRONLY : fs.constants.O_RDONLY;
    if (wants(OpenFlag.CREAT)) flags |= fs.constants.O_CREAT;
    if (wants(OpenFlag.TRUNC)) flags |= fs.constants.O_TRUNC;
    if (wants(OpenFlag.EXCL)) flags |= fs.constants.O_EXCL;
    if (wants(OpenFlag.APPEND)) flags |= fs.constants.O_APPEND;
    // Only regular files are served: opening a FIFO would block the whole server, and a device
    // may act on open. The type is checked before the open, and again after it (O_NONBLOCK, in
    // case a rename slipped something else in between).
    const notRegular = (st: fs.Stats): SysError | undefined => (st.isFile() ? undefined : SysError.of(st.isDirectory() ? 'EISDIR' : 'EINVAL', 'open', path, { detail: 'only regular files can be opened' }));
    let existing: SysError | undefined;
    try {
      existing = this.root.pinned(path, true, (pinned) => notRegular(fs.fstatSync(pinned)));
    } catch (err) {
      if (!(err instanceof SysError && err.code === 'ENOENT' && wants(OpenFlag.CREAT))) throw err;
    }
    if (existing) throw existing;
    const fd = this.root.open(path, flags | O_NOCTTY | O_NONBLOCK, (attrs.mode ?? 0o666) & 0o7777);
    const refused = notRegular(fs.fstatSync(fd));
    if (refused) {
      fs.closeSync(fd);
      throw refused;
    }
    this.sftp.handle(id, this.addHandle({ kind: 'file', fd }));
  }

  private read(id: number, handle: Buffer, offset: number, length: number): void {
    const { fd } = this.file(handle);
    const buffer = Buffer.allocUnsafe(Math.min(length, MAX_DATA));
    let n = 0;
    while (n < buffer.length) {
      const got = fs.readSync(fd, buffer, n, buffer.length - n, offset + n);
      if (got === 0) break;
      n += got;
    }
    if (n === 0) this.sftp.status(id, Status.EOF);
    else this.sftp.data(id, buffer.subarray(0, n));
  }

  private readdir(id: number, handle: Buffer): void {
    const h = this.anyHandle(handle);
    if (h.kind !== 'dir') throw SysError.of('ENOTDIR', 'readdir');
    h.names ??= readDirectory(h.fd);
    if (h.next >= h.names.length) return this.sftp.status(id, Status.EOF);
    const batch = h.names.slice(h.next, h.next + NAMES_PER_READDIR);
    h.next += batch.length;
    const entries = [];
    for (const name of batch) {
      let st: fs.BigIntStats;
      try {
        st = this.entryStat(h, name);
      } catch {
        continue; // removed since the listing was read
      }
      entries.push({ filename: name, longname: longname(name, st), attrs: attrsOf(st, this.kmxPosix) });
    }
    this.sendPacket(namePacket(id, entries));
  }

  /**
   * mknod of kmx's extension: one name beneath its pinned parent, with mknodat (which never
   * follows it, EEXIST if it is there). FIFOs, sockets and regular files only: a device node is
   * never made (EPERM), whoever the server runs as; the client's rdev is not even read.
   */
  private mknod(path: string, mode: number): void {
    const type = mode & S_IFMT;
    if (type === S_IFCHR || type === S_IFBLK) throw SysError.of('EPERM', 'mknod', path, { detail: 'kmx sftp serve makes no device nodes' });
    if (type !== S_IFIFO && type !== S_IFSOCK && type !== S_IFREG) throw SysError.of('EINVAL', 'mknod', path);
    this.root.entry(path, 'mknod', (dirFd, name) => libc.mknodat(dirFd, name, type | (mode & 0o7777), 0));
  }

  private rename(from: string, to: string, flags: number): void {
    this.root.beneath(from, (fromDir, fromName) => this.root.beneath(to, (toDir, toName) => {
      if (fromName === null || toName === null) throw SysError.of('EBUSY', 'rename', to);
      libc.renameat2(fromDir, fromName, toDir, toName, flags);
    }));
  }

  private extended(id: number, name: string, data: Buffer): void {
    let p = 0;
    const string = (): Buffer => {
      const length = data.readUInt32BE(p);
      const value = data.subarray(p + 4, p + 4 + length);
      p += 4 + length;
      return value;
    };
    switch (name) {
      case 'posix-rename@openssh.com': {
        const from = string().toString();
        const to = string().toString();
        return this.change(id, 'rename', () => this.rename(from, to, 0));
      }
      case 'hardlink@openssh.com': {
        const existing = string().toString();
        const link = string().toString();
        return this.change(id, 'link', () => this.root.entry(existing, 'link', (fromDir, fromName) => this.root.entry(link, 'link', (toDir, toName) => linkat(fromDir, fromName, toDir, toName, 0))));
      }
      case 'fsync@openssh.com': {
        fs.fsyncSync(this.file(string()).fd);
        return this.sftp.status(id, Status.OK);
      }
      case 'lsetstat@openssh.com': {
        const path = string().toString();
        const attrs = parseAttrs(data, p);
        return this.change(id, 'lsetstat', () => this.setAttributes(path, attrs, false));
      }
      case 'statvfs@openssh.com': {
        const path = string().toString();
        const v = this.root.pinned(path, true, (fd) => fstatfs(fd));
        const favail = v.ffree;
        const flag = this.options.readOnly ? 1 : 0; // ST_RDONLY
        return this.reply(id, [v.bsize, v.bsize, v.blocks, v.bfree, v.bavail, v.files, v.ffree, favail, 0, flag, 255]);
      }
      case 'limits@openssh.com':
        return this.reply(id, [MAX_PACKET, MAX_DATA, MAX_DATA, MAX_HANDLES]);
      case KMX_POSIX: {
        const op = string().toString();
        if (op === 'enable') {
          if (data.readUInt32BE(p) !== KMX_POSIX_VERSION) return this.sftp.status(id, Status.OP_UNSUPPORTED, `${KMX_POSIX} version ${data.readUInt32BE(p)} is not supported`);
          this.kmxPosix = true;
          return this.sftp.status(id, Status.OK);
        }
        if (op === 'mknod') {
          const path = string().toString();
          const mode = data.readUInt32BE(p);
          return this.change(id, 'mknod', () => this.mknod(path, mode));
        }
        return this.sftp.status(id, Status.OP_UNSUPPORTED, `${KMX_POSIX} has no "${op}"`);
      }
      default:
        return this.sftp.status(id, Status.OP_UNSUPPORTED, `${name} is not supported`);
    }
  }

  /** An SSH_FXP_EXTENDED_REPLY of uint64 values (ssh2's server has no call for it). */
  private reply(id: number, values: number[]): void {
    const packet = Buffer.alloc(4 + 1 + 4 + values.length * 8);
    packet.writeUInt32BE(packet.length - 4, 0);
    packet[4] = SSH_FXP_EXTENDED_REPLY;
    packet.writeUInt32BE(id, 5);
    values.forEach((v, i) => packet.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(v))), 9 + i * 8));
    this.sendPacket(packet);
  }
}

