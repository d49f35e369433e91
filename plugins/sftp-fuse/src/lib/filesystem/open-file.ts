import { SysError, renamedPath, writeCopyPool } from '@kmx/core';
import type { Stats } from 'ssh2';
import type { Connection } from '../connection/connection.js';
import type { SetAttrs, SftpSession } from '../protocol/session.js';
import { OpenFlag } from '../protocol/session.js';
import { ReadAhead } from './read-ahead.js';
import type { SendGate } from './send-gate.js';

/**
 * Where written data waits for the server's answer: FUSE reuses its buffer once a write is
 * answered, and the SFTP layer sends from this copy without copying again. A slab whose
 * write failed is never reused (the request may still be on its way).
 */
const writeSlabs = writeCopyPool(16);

/**
 * A file opened through the mount. Writes are write-behind: the FUSE write is answered at
 * once and its SFTP WRITE sent through the mount's SendGate; at most `writeBehindLimit` bytes
 * wait for the server's answer (with 0, each write waits for its own). A failed write behind
 * is kept and reported by the next write, flush (close), fsync or release, as sshfs does.
 * Reads go through ReadAhead. After a reconnection the file is opened again on the new
 * connection, unless writes were lost in the drop: then it fails with EIO until closed.
 */
export class OpenFile {
  private handle: Buffer | undefined;
  private generation = 0;
  private opening: Promise<Buffer> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  /** Queued requests still waiting in the SendGate (or for a re-opened handle): not yet sent. */
  private readonly undispatched = new Set<Promise<void>>();
  private inflightBytes = 0;
  private error: Error | undefined;
  /**
   * Where the writes not yet answered end: the file's size as the server will see it once
   * they land (0 once every write is answered: then the server's size is the truth, whatever
   * happened to the file since).
   */
  private unansweredEnd = 0;
  private readonly readAhead: ReadAhead;
  /** Unlinked (or replaced by a rename) while open: its path names something else now, or nothing. */
  orphaned = false;

  constructor(
    private readonly connection: Connection,
    /** Follows renames made through the mount. */
    public path: string,
    /** SFTP open flags for a re-open (no CREAT/EXCL/TRUNC: the file exists by then). */
    private readonly reopenFlags: number,
    private readonly writeBehindLimit: number,
    /** The mount's bound on data sent and not yet answered. */
    private readonly sendGate: SendGate,
    /** The server's path for a path in the mount. */
    private readonly remotePath: (path: string) => string,
    /** Made by this mount's CREATE (not merely opened). */
    private readonly created = false,
  ) {
    this.readAhead = new ReadAhead((position, into) => this.fetch(position, into));
  }

  /** Adopts the handle the first open returned. */
  opened(handle: Buffer): void {
    this.handle = handle;
    this.generation = this.connection.generation;
  }

  /** The size the file will have once this file's unanswered writes land; 0 when none is. */
  get pendingSize(): number {
    return this.unansweredEnd;
  }

  /** The file was cut to `size` (after the writes before it): they no longer make it longer. */
  truncated(size: number): void {
    this.unansweredEnd = Math.min(this.unansweredEnd, size);
  }

  /** The file's attributes through its handle (FSTAT), once queued writes have landed. */
  stat(): Promise<Stats> {
    return this.withHandle(true, (session, handle) => session.fstat(handle, this.path));
  }

  /** The file changed through another handle: what was read ahead may be stale. */
  invalidate(): void {
    this.readAhead.invalidate();
  }

  /** The handle, when it is valid on the live connection right now. */
  private currentHandle(): Buffer | undefined {
    return this.handle && this.generation === this.connection.generation && !this.error ? this.handle : undefined;
  }

  /** The handle valid on `session`, re-opening the file after a reconnection. */
  private remoteHandle(session: SftpSession): Promise<Buffer> {
    if (this.error) return Promise.reject(this.error);
    const current = this.currentHandle();
    if (current) return Promise.resolve(current);
    this.opening ??= session.open(this.remotePath(this.path), this.reopenFlags).then((handle) => {
      this.handle = handle;
      this.generation = this.connection.generation;
      return handle;
    }).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private fetch(position: number, into: Buffer): Promise<number> {
    return this.connection.run(true, async (session) => session.read(this.currentHandle() ?? await this.remoteHandle(session), into, position, this.path));
  }

  read(buffer: Buffer, position: number): number | Promise<number> {
    // A read sees what was written before it.
    if (this.inflight.size > 0) return this.drain().then(() => this.readAhead.read(buffer, position));
    return this.readAhead.read(buffer, position);
  }

  /**
   * Answers at once; the data goes out through the mount's SendGate, never before the answer,
   * so that the writer's next write (its copy into the kernel) overlaps with this one's
   * encryption and sending. Waits only while more than `writeBehindLimit` is unanswered.
   */
  write(data: Buffer, position: number): number | Promise<number> {
    if (this.error) throw this.error;
    this.readAhead.invalidate();
    const length = data.length;
    const slab = writeSlabs.take(length);
    data.copy(slab);
    const copy = slab.subarray(0, length);
    const send = (session: SftpSession, handle: Buffer): Promise<void> => session.write(handle, copy, position, this.path);
    this.unansweredEnd = Math.max(this.unansweredEnd, position + length);
    if (this.writeBehindLimit === 0) {
      // Nothing behind (write_behind=0, sshfs's sshfs_sync): the write answers with its own
      // outcome, which its caller has then seen, so a failure is not kept for flush and close.
      return this.sendBehind(length, send, () => writeSlabs.give(slab), false).then(() => length);
    }
    void this.sendBehind(length, send, () => writeSlabs.give(slab));
    if (this.inflightBytes <= this.writeBehindLimit) return length;
    return this.waitBelowLimit().then(() => length);
  }

  /**
   * Whether a change of mode or times may go behind the writes (AttributeChanges): the file was
   * created through this mount (the server made it ours), is open for writing on the live
   * connection, and nothing has failed yet.
   */
  get takesChangesBehind(): boolean {
    return this.created && (this.reopenFlags & OpenFlag.WRITE) !== 0 && this.currentHandle() !== undefined;
  }

  /** An FSETSTAT after the queued writes, answered at once; a failure is the next flush's error. */
  changeBehind(attrs: SetAttrs): void {
    if (this.error) throw this.error;
    void this.sendBehind(0, (session, handle) => session.fsetstat(handle, attrs, this.path));
  }

  /**
   * Queues a request on the handle behind everything queued before it. It counts as in flight
   * from here on: whatever settles the file waits for it, and its failure breaks the file
   * (unless `keepsFailure` is false: the caller reports it). Settles as the request does.
   */
  private sendBehind(length: number, request: (session: SftpSession, handle: Buffer) => Promise<void>, done?: () => void, keepsFailure = true): Promise<void> {
    let handedOver!: () => void;
    const dispatched = new Promise<void>((resolve) => (handedOver = resolve));
    const sent = this.sendGate.send(length, () => {
      // Queued behind a request that failed: the file is broken already; send nothing more.
      if (this.error) return Promise.reject(this.error);
      const handle = this.currentHandle();
      const session = this.connection.live;
      if (handle && session) {
        const answered = request(session, handle);
        handedOver();
        return answered;
      }
      return this.connection.run(false, async (s) => {
        const answered = request(s, await this.remoteHandle(s));
        handedOver();
        return answered;
      });
    });
    const pending: Promise<void> = sent
      .then(done)
      .catch((err: unknown) => {
        if (keepsFailure) this.error ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => {
        handedOver(); // also when it failed before it was sent
        this.inflight.delete(pending);
        this.inflightBytes -= length;
        if (this.inflight.size === 0) this.unansweredEnd = 0;
      });
    this.inflight.add(pending);
    this.inflightBytes += length;
    this.undispatched.add(dispatched);
    void dispatched.then(() => this.undispatched.delete(dispatched));
    return sent;
  }

  private async waitBelowLimit(): Promise<void> {
    while (this.inflightBytes > this.writeBehindLimit && this.inflight.size > 0) await Promise.race(this.inflight);
    if (this.error) throw this.error;
  }

  /**
   * Waits until every queued request is on its way to the server, not for the answers: a
   * request sent after them is carried out after them, as OpenSSH's sftp-server and kmx
   * serve take requests one at a time in order. Their errors stay for flush and close.
   */
  async dispatched(): Promise<void> {
    while (this.undispatched.size > 0) await Promise.all(this.undispatched);
  }

  /** Waits for every queued write; throws the first write error, if any. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all(this.inflight);
    if (this.error) throw this.error;
  }

  async flush(): Promise<void> {
    await this.drain();
  }

  async fsync(): Promise<void> {
    await this.drain();
    await this.connection.run(true, async (session) => {
      if (session.hasExtension('fsync@openssh.com')) await session.fsync(await this.remoteHandle(session), this.path);
    });
  }

  /** Runs an operation that needs the handle (fsetstat, fstat) once queued writes have landed. */
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
    const handle = this.currentHandle() ?? (this.error ? this.handle : undefined);
    this.handle = undefined;
    this.readAhead.invalidate();
    if (handle && this.generation === this.connection.generation) {
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
    for (const file of this.files.values()) if (file.path === path && !file.orphaned) out.push(file);
    return out;
  }

  /** A rename moved `from` (a file, or a directory and all below it) to `to`. */
  moved(from: string, to: string): void {
    for (const file of this.files.values()) if (!file.orphaned) file.path = renamedPath(file.path, from, to);
  }
}
