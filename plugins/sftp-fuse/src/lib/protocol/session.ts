import { SysError } from '@kmx/core';
import type { Attributes, FileEntryWithStats, InputAttributes, Stats } from 'ssh2';
import type { SFTPInternals } from './adapter.js';
import { sendRequest, writeInPlace } from './direct-io.js';
import { ConnectionLost, Status, nameTooLong, sftpError } from './errors.js';
import { KMX_POSIX, KMX_POSIX_VERSION, UTIME_NOW, UTIME_OMIT, encodeAttrs, encodeTimes, sshString, u32, type Timespec } from './kmx-posix.js';

/** SFTP v3 open flags (SSH_FXF_*). */
export const OpenFlag = { READ: 0x1, WRITE: 0x2, APPEND: 0x4, CREAT: 0x8, TRUNC: 0x10, EXCL: 0x20 } as const;

export interface RemoteEntry {
  name: string;
  attrs: Stats;
}

/** statvfs@openssh.com's reply, as ssh2 decodes it. */
export interface RemoteStatvfs {
  f_bsize: number;
  f_frsize: number;
  f_blocks: number;
  f_bfree: number;
  f_bavail: number;
  f_files: number;
  f_ffree: number;
  f_favail: number;
  f_namemax: number;
}

const TRACE = process.env.KMX_SFTP_TRACE ? new Map<string, number>() : undefined;
if (TRACE) process.on('exit', () => process.stderr.write(`sftp requests: ${JSON.stringify(Object.fromEntries(TRACE))}\n`));

type Callback<T> = (err: Error | undefined | null, value: T) => void;

const FXP_SETSTAT = 9;
const FXP_FSETSTAT = 10;
const FXP_EXTENDED = 200;

/**
 * What a setstat may change: SFTP v3's attributes, and `times` (atime, mtime) with nanoseconds
 * and UTIME_NOW/UTIME_OMIT, which go as such where kmx's extension is on and as whole seconds
 * elsewhere.
 */
export interface SetAttrs {
  size?: number;
  uid?: number;
  gid?: number;
  mode?: number;
  /** Whole seconds, as SFTP v3 has them. */
  atime?: number;
  mtime?: number;
  times?: [Timespec, Timespec];
}

/** SFTP v3's form of SetAttrs (whole seconds; UTIME_OMIT cannot be said, and is not asked for there). */
function v3Attrs(attrs: SetAttrs, path: string): InputAttributes {
  const { times, ...rest } = attrs;
  if (!times) return rest;
  const seconds = (t: Timespec): number => {
    if (t.nsec === UTIME_NOW) return Math.floor(Date.now() / 1000);
    if (t.nsec === UTIME_OMIT) throw SysError.of('EIO', 'setstat', path, { detail: 'a time left unchanged needs kmx-posix, which this server does not have' });
    return t.sec;
  };
  return { ...rest, atime: seconds(times[0]), mtime: seconds(times[1]) };
}

/**
 * One SFTP conversation as promises. Failures become errno-carrying errors (errors.ts);
 * a lost connection rejects everything in flight with ConnectionLost. Large reads and writes
 * are split at the server's limits and sent at once, so one FUSE request becomes a pipeline.
 */
export class SftpSession {
  private pending = 0;
  private lastProgress = Date.now();
  private closedReason: string | undefined;
  private readonly closeListeners: Array<(reason: string) => void> = [];
  /** kmx's extension is on: attributes carry its STAT RECORD, and times may have nanoseconds. */
  kmxPosix = false;

  constructor(private readonly sftp: SFTPInternals, private readonly closeTransport: () => void) {
    const gone = (reason: string) => () => this.markClosed(reason);
    sftp.on('end', gone('the server closed the connection'));
    sftp.on('close', gone('the connection closed'));
    sftp.on('error', (err: Error) => this.markClosed(`protocol error: ${err.message}`));
  }

  /** Largest read and write payloads the server accepts (limits@openssh.com, else 32 KiB-ish). */
  get maxRead(): number {
    return this.sftp._maxReadLen;
  }

  get maxWrite(): number {
    return this.sftp._maxWriteLen;
  }

  hasExtension(name: string, version = '1'): boolean {
    return this.sftp._extensions[name] === version;
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Requests sent and not yet answered, and when the last answer came (for the watchdog). */
  progress(): { pending: number; lastProgress: number } {
    return { pending: this.pending, lastProgress: this.lastProgress };
  }

  onClose(listener: (reason: string) => void): void {
    if (this.closedReason !== undefined) listener(this.closedReason);
    else this.closeListeners.push(listener);
  }

  /** Ends the conversation: every request in flight fails with ConnectionLost. */
  close(reason = 'closed'): void {
    this.markClosed(reason);
  }

  private markClosed(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    try {
      this.sftp.push(null); // fails whatever is still waiting for an answer
    } catch {
      // already torn down
    }
    this.closeTransport();
    for (const listener of this.closeListeners.splice(0)) listener(reason);
  }

  /** Sends one request; its callback settles the promise. */
  private call<T>(operation: string, path: string | undefined, send: (cb: Callback<T>) => void): Promise<T> {
    if (TRACE) TRACE.set(operation, (TRACE.get(operation) ?? 0) + 1);
    if (this.closedReason !== undefined) return Promise.reject(new ConnectionLost(operation, this.closedReason));
    this.pending++;
    return new Promise<T>((resolve, reject) => {
      const cb: Callback<T> = (err, value) => {
        this.pending--;
        this.lastProgress = Date.now();
        if (err) reject(sftpError(err, operation, path));
        else resolve(value);
      };
      try {
        send(cb);
      } catch (err) {
        this.pending--;
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  lstat(path: string): Promise<Stats> {
    return this.call('lstat', path, (cb) => this.sftp.lstat(path, cb));
  }

  stat(path: string): Promise<Stats> {
    return this.call('stat', path, (cb) => this.sftp.stat(path, cb));
  }

  fstat(handle: Buffer, path: string): Promise<Stats> {
    return this.call('fstat', path, (cb) => this.sftp.fstat(handle, cb));
  }

  realpath(path: string): Promise<string> {
    return this.call('realpath', path, (cb) => this.sftp.realpath(path, cb));
  }

  readlink(path: string): Promise<string> {
    return this.call('readlink', path, (cb) => this.sftp.readlink(path, cb));
  }

  /**
   * The whole listing: OPENDIR, then READDIRs two at a time (a directory of up to a hundred
   * names, sftp-server's batch, takes one round trip instead of two), and a CLOSE that is not
   * waited for.
   */
  async readdir(path: string): Promise<RemoteEntry[]> {
    const handle = await this.call<Buffer>('readdir', path, (cb) => this.sftp.opendir(path, cb));
    const entries: RemoteEntry[] = [];
    try {
      let done = false;
      while (!done) {
        const batches = await Promise.all([this.readdirBatch(handle, path), this.readdirBatch(handle, path)]);
        for (const batch of batches) {
          if (batch === null) done = true;
          else for (const e of batch) entries.push({ name: e.filename, attrs: e.attrs as Stats });
        }
      }
    } finally {
      this.closeHandle(handle, path).catch(() => undefined);
    }
    return entries;
  }

  /** One READDIR: its names, or null at the end. */
  private readdirBatch(handle: Buffer, path: string): Promise<FileEntryWithStats[] | null> {
    return this.call<FileEntryWithStats[] | null>('readdir', path, (cb) => this.sftp.readdir(handle, (err: (Error & { code?: number }) | undefined, list: FileEntryWithStats[] | false) => {
      if (err && err.code === Status.EOF) cb(undefined, null);
      else if (err) cb(err, null);
      else cb(undefined, list === false ? null : list);
    }));
  }

  open(path: string, flags: number, attrs?: InputAttributes): Promise<Buffer> {
    return this.call<Buffer>('open', path, (cb) => this.sftp.open(path, flags, attrs ?? {}, cb));
  }

  closeHandle(handle: Buffer, path: string): Promise<void> {
    return this.call<undefined>('close', path, (cb) => this.sftp.close(handle, (err) => cb(err, undefined)));
  }

  /** Reads up to buffer.length bytes at `position`, in parallel chunks; fewer only at end of file. */
  async read(handle: Buffer, buffer: Buffer, position: number, path: string): Promise<number> {
    const chunk = this.maxRead;
    if (buffer.length <= chunk) return this.readChunk(handle, buffer, 0, buffer.length, position, path);
    const parts: Promise<number>[] = [];
    for (let offset = 0; offset < buffer.length; offset += chunk) {
      parts.push(this.readChunk(handle, buffer, offset, Math.min(chunk, buffer.length - offset), position + offset, path));
    }
    const counts = await Promise.all(parts);
    let done = 0;
    for (let i = 0; i < counts.length; i++) {
      done += counts[i]!;
      if (counts[i]! < Math.min(chunk, buffer.length - i * chunk)) break;
    }
    // A short chunk followed by data (a server that sends less than asked): fill the gap in order.
    if (done < buffer.length && counts.slice(Math.floor(done / chunk) + 1).some((n) => n > 0)) {
      while (done < buffer.length) {
        const n = await this.readChunk(handle, buffer, done, Math.min(chunk, buffer.length - done), position + done, path);
        if (n === 0) break;
        done += n;
      }
    }
    return done;
  }

  private readChunk(handle: Buffer, buffer: Buffer, offset: number, length: number, position: number, path: string): Promise<number> {
    return this.call<number>('read', path, (cb) => this.sftp.read(handle, buffer, offset, length, position, (err: (Error & { code?: number }) | undefined, n: number) => {
      if (err && err.code === Status.EOF) cb(undefined, 0);
      else cb(err, n);
    }));
  }

  /**
   * Writes all of `data` at `position`, in parallel chunks sent without a copy (writeInPlace):
   * `data` must stay unchanged until this settles, and for good if it fails.
   */
  async write(handle: Buffer, data: Buffer, position: number, path: string): Promise<void> {
    const chunk = this.maxWrite;
    const parts: Promise<void>[] = [];
    for (let offset = 0; offset < data.length; offset += chunk) {
      const part = data.subarray(offset, Math.min(offset + chunk, data.length));
      parts.push(this.call<undefined>('write', path, (cb) => writeInPlace(this.sftp, handle, part, position + offset, (err) => cb(err, undefined))));
    }
    await Promise.all(parts);
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.call<undefined>('mkdir', path, (cb) => this.sftp.mkdir(path, { mode }, (err) => cb(err, undefined)));
  }

  rmdir(path: string): Promise<void> {
    return this.call<undefined>('rmdir', path, (cb) => this.sftp.rmdir(path, (err) => cb(err, undefined)));
  }

  unlink(path: string): Promise<void> {
    return this.call<undefined>('unlink', path, (cb) => this.sftp.unlink(path, (err) => cb(err, undefined)));
  }

  /** posix-rename@openssh.com replaces an existing target; plain SFTP rename refuses to. */
  rename(from: string, to: string, replace: boolean): Promise<void> {
    return this.call<undefined>('rename', nameTooLong(from) ? from : to, (cb) => (replace
      ? this.sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined))
      : this.sftp.rename(from, to, (err) => cb(err, undefined))));
  }

  symlink(target: string, path: string): Promise<void> {
    return this.call<undefined>('symlink', path, (cb) => this.sftp.symlink(target, path, (err) => cb(err, undefined)));
  }

  link(existing: string, path: string): Promise<void> {
    return this.call<undefined>('link', nameTooLong(existing) ? existing : path, (cb) => this.sftp.ext_openssh_hardlink(existing, path, (err) => cb(err, undefined)));
  }

  setstat(path: string, attrs: SetAttrs): Promise<void> {
    if (attrs.times && this.kmxPosix) return this.raw('setstat', path, FXP_SETSTAT, [sshString(path), this.wireAttrs(attrs)]);
    return this.call<undefined>('setstat', path, (cb) => this.sftp.setstat(path, v3Attrs(attrs, path), (err) => cb(err, undefined)));
  }

  lsetstat(path: string, attrs: SetAttrs): Promise<void> {
    if (attrs.times && this.kmxPosix) return this.raw('setstat', path, FXP_EXTENDED, [sshString('lsetstat@openssh.com'), sshString(path), this.wireAttrs(attrs)]);
    return this.call<undefined>('setstat', path, (cb) => this.sftp.ext_openssh_lsetstat(path, v3Attrs(attrs, path), (err) => cb(err, undefined)));
  }

  fsetstat(handle: Buffer, attrs: SetAttrs, path: string): Promise<void> {
    if (attrs.times && this.kmxPosix) return this.raw('setstat', path, FXP_FSETSTAT, [sshString(handle), this.wireAttrs(attrs)]);
    return this.call<undefined>('setstat', path, (cb) => this.sftp.fsetstat(handle, v3Attrs(attrs, path), (err) => cb(err, undefined)));
  }

  /** ATTRS with the times as kmx's pair (and, for the record, as v3's seconds too). */
  private wireAttrs(attrs: SetAttrs): Buffer {
    const [atime, mtime] = attrs.times!;
    return encodeAttrs({ ...attrs, atime: atime.sec, mtime: mtime.sec, extended: [[KMX_POSIX, encodeTimes(atime, mtime)]] });
  }

  /** A request ssh2 cannot encode, answered by a STATUS. */
  private raw(operation: string, path: string | undefined, type: number, body: Buffer[]): Promise<void> {
    return this.call<undefined>(operation, path, (cb) => sendRequest(this.sftp, type, body, (err) => cb(err, undefined)));
  }

  /**
   * Turns kmx's extension on when the server announces it (kmx sftp serve); a no-op with any
   * other server. Call before anything else is sent: the replies after it carry the records.
   */
  async enableKmxPosix(): Promise<boolean> {
    if (!this.hasExtension(KMX_POSIX, String(KMX_POSIX_VERSION))) return false;
    await this.raw('kmx-posix', undefined, FXP_EXTENDED, [sshString(KMX_POSIX), sshString('enable'), u32(KMX_POSIX_VERSION)]);
    this.kmxPosix = true;
    return true;
  }

  /** mknod through kmx's extension: FIFOs and sockets (and regular files); the server refuses device nodes. */
  mknod(path: string, mode: number, rdev: number): Promise<void> {
    if (!this.kmxPosix) return Promise.reject(SysError.of('EPERM', 'mknod', path, { detail: 'SFTP can create only regular files, directories and symlinks' }));
    const dev = Buffer.allocUnsafe(8);
    dev.writeBigUInt64BE(BigInt(rdev), 0);
    return this.raw('mknod', path, FXP_EXTENDED, [sshString(KMX_POSIX), sshString('mknod'), sshString(path), u32(mode), dev]);
  }

  fsync(handle: Buffer, path: string): Promise<void> {
    return this.call<undefined>('fsync', path, (cb) => this.sftp.ext_openssh_fsync(handle, (err) => cb(err, undefined)));
  }

  statvfs(path: string): Promise<RemoteStatvfs> {
    return this.call<RemoteStatvfs>('statfs', path, (cb) => this.sftp.ext_openssh_statvfs(path, cb));
  }
}

export type { Attributes, Stats };
