import type { Attributes, FileEntryWithStats, InputAttributes, Stats } from 'ssh2';
import type { SFTPInternals } from './adapter.js';
import { writeInPlace } from './direct-io.js';
import { ConnectionLost, Status, sftpError } from './errors.js';

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
    return this.call<undefined>('rename', to, (cb) => (replace
      ? this.sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined))
      : this.sftp.rename(from, to, (err) => cb(err, undefined))));
  }

  symlink(target: string, path: string): Promise<void> {
    return this.call<undefined>('symlink', path, (cb) => this.sftp.symlink(target, path, (err) => cb(err, undefined)));
  }

  link(existing: string, path: string): Promise<void> {
    return this.call<undefined>('link', path, (cb) => this.sftp.ext_openssh_hardlink(existing, path, (err) => cb(err, undefined)));
  }

  setstat(path: string, attrs: InputAttributes): Promise<void> {
    return this.call<undefined>('setstat', path, (cb) => this.sftp.setstat(path, attrs, (err) => cb(err, undefined)));
  }

  lsetstat(path: string, attrs: InputAttributes): Promise<void> {
    return this.call<undefined>('setstat', path, (cb) => this.sftp.ext_openssh_lsetstat(path, attrs, (err) => cb(err, undefined)));
  }

  fsetstat(handle: Buffer, attrs: InputAttributes, path: string): Promise<void> {
    return this.call<undefined>('setstat', path, (cb) => this.sftp.fsetstat(handle, attrs, (err) => cb(err, undefined)));
  }

  fsync(handle: Buffer, path: string): Promise<void> {
    return this.call<undefined>('fsync', path, (cb) => this.sftp.ext_openssh_fsync(handle, (err) => cb(err, undefined)));
  }

  statvfs(path: string): Promise<RemoteStatvfs> {
    return this.call<RemoteStatvfs>('statfs', path, (cb) => this.sftp.ext_openssh_statvfs(path, cb));
  }
}

export type { Attributes, Stats };
