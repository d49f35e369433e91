import type * as KoffiModule from 'koffi';
import { constants } from 'node:os';
import { KmxError, SysError } from '@kmx/core';
import { libnfs, type LibNfs, type Pointer } from './bindings.js';

// The libnfs event-loop driver: every call is queued with nfs_*_async and completes inside
// nfs_service(), which runs when koffi's poll says the socket is ready. Nothing blocks the
// main thread. libnfs changes its fd on reconnects (portmapper → mountd → nfsd), so the poll
// is re-armed after every queue and service; a 250 ms tick lets libnfs expire timed-out calls.

const POLLIN = 1;
const POLLOUT = 4;
const POLLERR = 8;
const POLLHUP = 0x10;
const TICK_MS = 250;
const EIO = 5;
/** What libnfs 4.0 answers a call with when the RPC itself failed: EFAULT, EINTR (timeout, cancel). */
const TRANSPORT_FAILURES = new Set([constants.errno.EFAULT, constants.errno.EINTR]);

interface PollEvents {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

type Completion = (err: number, data: Pointer) => void;

export interface NfsConnectOptions {
  /** e.g. nfs://127.0.0.1/export?version=3&nfsport=2049&mountport=20048 */
  url: string;
  /** Per-call timeout; a call to a dead server fails with EIO after it. */
  timeoutMs: number;
  uid?: number;
  gid?: number;
}

/** One libnfs context, driven from the Node event loop. */
export class NfsContext {
  private readonly lib: LibNfs;
  private nfs: Pointer;
  private readonly pending = new Map<number, Completion>();
  private nextId = 1;
  private readonly callback: bigint;
  private poller: KoffiModule.node.PollHandle | undefined;
  private polledFd = -1;
  private polledEvents = -1;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;
  /** libnfs's message when the connection broke, for the log. */
  lastError = '';

  constructor(options: Pick<NfsConnectOptions, 'timeoutMs' | 'uid' | 'gid'>) {
    this.lib = libnfs();
    this.nfs = this.lib.init_context();
    if (!this.nfs) throw new KmxError('libnfs could not create a context');
    this.lib.set_timeout(this.nfs, options.timeoutMs);
    this.lib.set_autoreconnect(this.nfs, 0); // a dead server is an error, not an endless retry
    // libnfs keeps listings and trusts them while the directory's mtime stands, but a write,
    // chmod or truncate of a file in it leaves that mtime alone: the kernel then took the
    // file's old size and mode from the next READDIRPLUS (and read only up to that size).
    this.lib.set_dircache(this.nfs, 0);
    if (options.uid !== undefined) this.lib.set_uid(this.nfs, options.uid);
    if (options.gid !== undefined) this.lib.set_gid(this.nfs, options.gid);
    this.callback = this.lib.koffi.register((err: number, _nfs: Pointer, data: Pointer, id: Pointer) => this.complete(err, data, id), this.lib.koffi.pointer(this.lib.callbackType));
    this.ticker = setInterval(() => {
      if (this.pending.size > 0) this.service(0);
    }, TICK_MS);
    this.ticker.unref();
  }

  get raw(): Pointer {
    return this.nfs;
  }

  get library(): LibNfs {
    return this.lib;
  }

  error(): string {
    return String(this.lib.get_error(this.nfs) ?? 'unknown libnfs error');
  }

  /**
   * Queues `start(cb, id)` (an nfs_*_async call with the shared callback and this request's
   * id) and resolves with `onData(data, err)` when libnfs completes it; rejects with a SysError.
   */
  call<T>(what: string, start: (cb: bigint, id: Pointer) => number, onData: (data: Pointer, result: number) => T): Promise<T> {
    if (this.closed) return Promise.reject(SysError.of('EIO', what, undefined, { detail: 'the NFS connection is closed' }));
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      if (this.nextId > 0x7fffffff) this.nextId = 1;
      this.pending.set(id, (err, data) => {
        if (err < 0) {
          reject(this.toError(what, err, data));
          return;
        }
        try {
          resolve(onData(data, err)); // data lives only during the callback: onData copies what it keeps
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
      const rc = start(this.callback, this.lib.koffi.as(id, 'void *') as Pointer);
      if (rc < 0) {
        this.pending.delete(id);
        reject(SysError.of('EIO', what, undefined, { detail: this.error() }));
        return;
      }
      this.arm();
    });
  }

  /** Fails every pending call, stops polling and frees the context. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    this.poller?.close();
    this.poller = undefined;
    this.lib.destroy_context(this.nfs); // completes pending calls with errors through the callback
    for (const [, done] of this.pending) done(-EIO, null);
    this.pending.clear();
    this.lib.koffi.unregister(this.callback);
    this.nfs = null;
  }

  private complete(err: number, data: Pointer, idPointer: Pointer): void {
    const id = Number(this.lib.koffi.address(idPointer));
    const done = this.pending.get(id);
    if (!done) return;
    this.pending.delete(id);
    done(err, data);
  }

  private toError(what: string, err: number, data: Pointer): SysError {
    let message = '';
    try {
      message = data ? String(this.lib.koffi.decode(data, 'char', -1)) : '';
    } catch {
      message = '';
    }
    // libnfs reports a lost connection (EFAULT) or a timeout or cancel (EINTR) with codes that
    // are not errnos of the operation; to a reader of the mount these are I/O errors. By code,
    // not by message: the message carries the path, and a file named socket.h is just a name.
    const code = -err > 0 && -err < 200 && !TRANSPORT_FAILURES.has(-err) ? -err : EIO;
    return new SysError(code, what, undefined, { detail: message || undefined });
  }

  private service(revents: number): void {
    if (this.closed) return;
    if (this.lib.service(this.nfs, revents) < 0) {
      // The connection is gone: every pending call fails now instead of waiting for its timeout.
      const message = this.error();
      for (const [, done] of this.pending) done(-EIO, null);
      this.pending.clear();
      this.lastError = message;
    }
    this.arm();
  }

  private arm(): void {
    if (this.closed) return;
    // koffi calls it with (status, events); its typings name only the events.
    const pollCallback = ((status: number, ev: PollEvents) => this.onEvents(status, ev)) as unknown as (ev: PollEvents) => void;
    const fd = Number(this.lib.get_fd(this.nfs));
    const events = Number(this.lib.which_events(this.nfs));
    if (fd === this.polledFd && events === this.polledEvents && this.poller) return;
    if (fd !== this.polledFd || !this.poller) {
      this.poller?.close();
      this.poller = undefined;
      this.polledFd = fd;
      if (fd < 0) return;
      this.poller = this.lib.koffi.node.poll(fd, { readable: (events & POLLIN) !== 0, writable: (events & POLLOUT) !== 0 }, pollCallback);
    } else {
      this.poller.start({ readable: (events & POLLIN) !== 0, writable: (events & POLLOUT) !== 0 }, pollCallback);
    }
    this.polledEvents = events;
    if (this.pending.size === 0) this.poller?.unref();
    else this.poller?.ref();
  }

  /** koffi's poll callback: (libuv status, events); a negative status is POLLERR (libuv stops the poll then). */
  private onEvents(status: number, ev: PollEvents): void {
    if (status < 0) {
      this.poller?.close();
      this.poller = undefined;
      this.polledFd = -1;
      this.service(POLLERR | POLLHUP);
      return;
    }
    this.service((ev.readable ? POLLIN : 0) | (ev.writable ? POLLOUT : 0) | (ev.disconnect ? POLLHUP : 0));
  }
}
