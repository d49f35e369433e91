import { SysError } from '@kmx/core';
import type { Connection } from '../connection/connection.js';
import type { SftpSession } from '../protocol/session.js';
import { OpenFlag } from '../protocol/session.js';

/**
 * A file opened through the mount. Writes are write-behind: the FUSE write is answered as
 * soon as the data is queued and its SFTP WRITE sent; at most `writeBehindLimit` bytes wait
 * for the server's answer. A failed write is kept and reported by the next write, flush
 * (close), fsync or release, as sshfs does. After a reconnection the file is opened again on
 * the new connection, unless writes were lost in the drop: then it fails with EIO until closed.
 */
export class OpenFile {
  private handle: Buffer | undefined;
  private generation = 0;
  private opening: Promise<Buffer> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private inflightBytes = 0;
  private error: Error | undefined;
  /** Data written: the file's size as the server will see it once writes land. */
  private writtenEnd = 0;

  constructor(
    private readonly connection: Connection,
    /** Follows renames made through the mount. */
    public path: string,
    /** SFTP open flags for a re-open (no CREAT/EXCL/TRUNC: the file exists by then). */
    private readonly reopenFlags: number,
    private readonly writeBehindLimit: number,
  ) {}

  /** Adopts the handle the first open returned. */
  opened(handle: Buffer): void {
    this.handle = handle;
    this.generation = this.connection.generation;
  }

  get hasPendingWrites(): boolean {
    return this.inflight.size > 0;
  }

  get writtenSize(): number {
    return this.writtenEnd;
  }

  /** The handle valid on `session`, re-opening the file after a reconnection. */
  private remoteHandle(session: SftpSession): Promise<Buffer> {
    if (this.error) return Promise.reject(this.error);
    if (this.handle && this.generation === this.connection.generation) return Promise.resolve(this.handle);
    this.opening ??= session.open(this.path, this.reopenFlags).then((handle) => {
      this.handle = handle;
      this.generation = this.connection.generation;
      return handle;
    }).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  async read(buffer: Buffer, position: number): Promise<number> {
    if (this.inflight.size > 0) await this.drain(); // a read sees what was written before it
    return this.connection.run(true, async (session) => session.read(await this.remoteHandle(session), buffer, position, this.path));
  }

  /** Queues the write; waits only while too much data is unanswered. */
  async write(data: Buffer, position: number): Promise<number> {
    if (this.error) throw this.error;
    const copy = Buffer.from(data); // the engine reuses its buffer once we answer
    const length = copy.length;
    const pending = this.connection.run(false, async (session) => session.write(await this.remoteHandle(session), copy, position, this.path))
      .catch((err: unknown) => {
        this.error ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => {
        this.inflight.delete(pending);
        this.inflightBytes -= length;
      });
    this.inflight.add(pending);
    this.inflightBytes += length;
    this.writtenEnd = Math.max(this.writtenEnd, position + length);
    while (this.inflightBytes > this.writeBehindLimit && this.inflight.size > 0) await Promise.race(this.inflight);
    if (this.error) throw this.error;
    return length;
  }

  /** Waits for every queued write; throws the first write error, if any. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all(this.inflight);
    if (this.error) throw this.error;
  }

  /** Forgets the write error once reported at close (a later fsync of the same handle reports it again). */
  async flush(): Promise<void> {
    await this.drain();
  }

  async fsync(): Promise<void> {
    await this.drain();
    await this.connection.run(true, async (session) => {
      if (session.hasExtension('fsync@openssh.com')) await session.fsync(await this.remoteHandle(session), this.path);
    });
  }

  /** Runs an operation that needs the handle (fstat, ftruncate) once queued writes have landed. */
  async withHandle<T>(repeatable: boolean, operation: (session: SftpSession, handle: Buffer) => Promise<T>): Promise<T> {
    await this.drain();
    return this.connection.run(repeatable, async (session) => operation(session, await this.remoteHandle(session)));
  }

  /** Drains and closes the remote handle; a write error still surfaces here. */
  async release(): Promise<void> {
    let failure: unknown;
    try {
      await this.drain();
    } catch (err) {
      failure = err;
    }
    const handle = this.handle;
    if (handle && this.generation === this.connection.generation) {
      this.handle = undefined;
      // A close that cannot be sent (the connection is gone) has nothing left to close.
      await this.connection.run(false, (session) => session.closeHandle(handle, this.path)).catch(() => undefined);
    }
    if (failure) throw failure;
  }
}

/** SFTP open flags for POSIX open(2) flags. */
export function sftpOpenFlags(flags: number): number {
  const access = flags & 3;
  let pflags = access === 0 ? OpenFlag.READ : access === 1 ? OpenFlag.WRITE : OpenFlag.READ | OpenFlag.WRITE;
  if (flags & 0o100) pflags |= OpenFlag.CREAT;
  if (flags & 0o200) pflags |= OpenFlag.EXCL;
  if (flags & 0o1000) pflags |= OpenFlag.TRUNC;
  if (flags & 0o2000) pflags |= OpenFlag.APPEND;
  return pflags;
}

/** The handle table: FUSE file handles (small positive integers) to open files. */
export class OpenFiles {
  private readonly files = new Map<number, OpenFile>();
  private next = 1;

  add(file: OpenFile): number {
    while (this.files.has(this.next)) this.next = (this.next % 0x7ffffffe) + 1;
    const fh = this.next;
    this.next = (this.next % 0x7ffffffe) + 1;
    this.files.set(fh, file);
    return fh;
  }

  get(fh: number): OpenFile {
    const file = this.files.get(fh);
    if (!file) throw SysError.of('EBADF', 'sftp', undefined, { detail: `no open file ${fh}` });
    return file;
  }

  remove(fh: number): void {
    this.files.delete(fh);
  }

  /** Open files of one path (to let their queued writes land before a stat or setstat). */
  ofPath(path: string): OpenFile[] {
    const out: OpenFile[] = [];
    for (const file of this.files.values()) if (file.path === path) out.push(file);
    return out;
  }

  all(): OpenFile[] {
    return [...this.files.values()];
  }
}
