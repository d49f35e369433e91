import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { KmxError, SysError, errnoMessage, errnoName, errnoOf, libc } from '@kmx/core';
import type { Attributes, InputAttributes } from 'ssh2';
import { sftpOverStream, type SFTPInternals } from '../protocol/adapter.js';
import { OpenFlag } from '../protocol/session.js';
import { Status } from '../protocol/errors.js';
import { KMX_POSIX, KMX_POSIX_VERSION } from '../protocol/kmx-posix.js';
import { applyAttrs, attrsOf, attrsPacket, longname, namePacket, parseAttrs } from './attributes.js';
import { entryStat, mknod, openRegularFile, rename, setAttributes } from './confined-operations.js';
import { ConfinedRoot, clientPath } from './confined-root.js';
import { fstatfs, linkat, readDirectory, readlinkat } from './fd-calls.js';
import { Handles, MAX_HANDLES } from './handles.js';

const { O_RDONLY, O_DIRECTORY, AT_REMOVEDIR } = libc;

/** What the server announces, besides SFTP v3 itself: the OpenSSH extensions sshfs and kmx use. */
const EXTENSIONS: Record<string, string> = {
  'posix-rename@openssh.com': '1',
  'statvfs@openssh.com': '2',
  'hardlink@openssh.com': '1',
  'fsync@openssh.com': '1',
  'lsetstat@openssh.com': '1',
  'limits@openssh.com': '1',
  // kmx's own, for a kmx client (docs/sftp.md, "Both ends kmx"; protocol/kmx-posix.ts).
  [KMX_POSIX]: String(KMX_POSIX_VERSION),
};

const MAX_PACKET = 256 * 1024;
/** As OpenSSH's sftp-server: a packet less the room for the header. */
const MAX_DATA = MAX_PACKET - 1024;
const NAMES_PER_READDIR = 100;
const SSH_FXP_EXTENDED_REPLY = 201;
const RENAME_NOREPLACE = 1;

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
  private readonly handles = new Handles();
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
    on('OPEN', (id, path: string, flags: number, attrs: Attributes) => this.open(id, path, flags, attrs));
    on('READ', (id, handle: Buffer, offset: number, length: number) => this.read(id, handle, offset, length));
    on('WRITE', (id, handle: Buffer, offset: number, data: Buffer) => {
      this.writable('write');
      const fd = this.handles.file(handle).fd;
      for (let done = 0; done < data.length;) done += fs.writeSync(fd, data, done, data.length - done, offset + done);
      s.status(id, Status.OK);
    });
    on('FSTAT', (id, handle: Buffer) => this.attrs(id, fs.fstatSync(this.handles.get(handle).fd, { bigint: true })));
    on('FSETSTAT', (id, handle: Buffer, attrs: InputAttributes) => {
      this.writable('fsetstat');
      applyAttrs(this.handles.get(handle).fd, attrs);
      s.status(id, Status.OK);
    });
    on('CLOSE', (id, handle: Buffer) => {
      this.handles.close(handle);
      s.status(id, Status.OK);
    });
    on('OPENDIR', (id, path: string) => {
      const fd = this.root.open(path, O_RDONLY | O_DIRECTORY);
      s.handle(id, this.handles.add({ kind: 'dir', fd, path, names: undefined, next: 0 }));
    });
    on('READDIR', (id, handle: Buffer) => this.readdir(id, handle));
    on('LSTAT', (id, path: string) => this.attrs(id, this.root.pinned(path, false, (fd) => fs.fstatSync(fd, { bigint: true }))));
    on('STAT', (id, path: string) => this.attrs(id, this.root.pinned(path, true, (fd) => fs.fstatSync(fd, { bigint: true }))));
    on('SETSTAT', (id, path: string, attrs: InputAttributes) => this.change(id, 'setstat', () => setAttributes(this.root, path, attrs, true)));
    on('REMOVE', (id, path: string) => this.change(id, 'unlink', () => this.root.entry(path, 'unlink', (dirFd, name) => libc.unlinkat(dirFd, name, 0))));
    on('RMDIR', (id, path: string) => this.change(id, 'rmdir', () => this.root.entry(path, 'rmdir', (dirFd, name) => libc.unlinkat(dirFd, name, AT_REMOVEDIR))));
    on('MKDIR', (id, path: string, attrs: Attributes) => this.change(id, 'mkdir', () => this.root.entry(path, 'mkdir', (dirFd, name) => libc.mkdirat(dirFd, name, (attrs.mode ?? 0o777) & 0o7777))));
    on('RENAME', (id, from: string, to: string) => this.change(id, 'rename', () => rename(this.root, from, to, RENAME_NOREPLACE)));
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

  private closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    this.handles.closeAll();
    this.root.close();
  }

  // ---- requests ----

  private open(id: number, path: string, pflags: number, attrs: Attributes): void {
    if (pflags & (OpenFlag.WRITE | OpenFlag.CREAT | OpenFlag.TRUNC | OpenFlag.APPEND)) this.writable('open');
    this.sftp.handle(id, this.handles.add({ kind: 'file', fd: openRegularFile(this.root, path, pflags, attrs.mode) }));
  }

  private read(id: number, handle: Buffer, offset: number, length: number): void {
    const { fd } = this.handles.file(handle);
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
    const h = this.handles.directory(handle);
    h.names ??= readDirectory(h.fd);
    if (h.next >= h.names.length) return this.sftp.status(id, Status.EOF);
    const batch = h.names.slice(h.next, h.next + NAMES_PER_READDIR);
    h.next += batch.length;
    const entries = [];
    for (const name of batch) {
      let st: fs.BigIntStats;
      try {
        st = entryStat(this.root, h, name);
      } catch {
        continue; // removed since the listing was read
      }
      entries.push({ filename: name, longname: longname(name, st), attrs: attrsOf(st, this.kmxPosix) });
    }
    this.sendPacket(namePacket(id, entries));
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
        return this.change(id, 'rename', () => rename(this.root, from, to, 0));
      }
      case 'hardlink@openssh.com': {
        const existing = string().toString();
        const link = string().toString();
        return this.change(id, 'link', () => this.root.entry(existing, 'link', (fromDir, fromName) => this.root.entry(link, 'link', (toDir, toName) => linkat(fromDir, fromName, toDir, toName, 0))));
      }
      case 'fsync@openssh.com': {
        fs.fsyncSync(this.handles.file(string()).fd);
        return this.sftp.status(id, Status.OK);
      }
      case 'lsetstat@openssh.com': {
        const path = string().toString();
        const attrs = parseAttrs(data, p);
        return this.change(id, 'lsetstat', () => setAttributes(this.root, path, attrs, false));
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
          return this.change(id, 'mknod', () => mknod(this.root, path, mode));
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

