import type * as KoffiModule from 'koffi';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { KmxError, SysError } from '@kmx/core';
import { libnfs, type LibNfs, type Pointer } from './bindings.js';
import { classifyFailure, ConnectionLost, NfsStateError, plainReason } from './failures.js';

// The libnfs event-loop driver: every call is queued with nfs_*_async and completes inside
// nfs_service(), which runs when koffi's poll says the socket is ready. Nothing blocks the
// main thread. libnfs changes its fd on reconnects (portmapper → mountd → nfsd), so the poll
// is re-armed after every queue and service; a 250 ms tick lets libnfs expire timed-out calls.

const POLLIN = 1;
const POLLOUT = 4;
const POLLERR = 8;
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

/** Who the requests of a context are sent as (AUTH_SYS). */
export interface Credential {
  uid: number;
  gid: number;
  /** Supplementary groups; AUTH_SYS carries 16 at most. */
  groups: readonly number[];
}

/** AUTH_SYS carries at most 16 supplementary groups (RFC 5531); the kernel's client sends the first 16 too. */
export const AUTH_SYS_MAX_GROUPS = 16;

export interface NfsConnectOptions {
  /** e.g. nfs://127.0.0.1/export?version=3&nfsport=2049&mountport=20048 */
  url: string;
  /** Per-call timeout; a call to a dead server fails with EIO after it. */
  timeoutMs: number;
  /** Send every request as this user (AUTH_SYS); libnfs's default is the process's uid and gid, without groups. */
  credential?: Credential;
  /**
   * NFSv4: the client's name, the same for every context that replaces this one (a reconnection,
   * a fresh start after the open sequence went out of step): with a new verifier each time, the
   * server then drops the state of the one before. libnfs's own ("Libnfs pid:P T", T in seconds)
   * is the same for two contexts made in one second, which would then share one open-owner.
   */
  clientName?: string;
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
  /** The connection broke (or a call went unanswered): every call fails with ConnectionLost. */
  private lostReason: string | undefined;
  private lostListener: ((reason: string) => void) | undefined;
  /** When a call last completed (ms since the epoch): an idle connection is probed (connection.ts). */
  lastAnswer = Date.now();

  private readonly timeoutMs: number;

  private readonly rpcCallback: bigint;
  /** Set by drained(): called once nothing is pending. */
  private idleWaiter: (() => void) | undefined;

  constructor(options: Pick<NfsConnectOptions, 'timeoutMs' | 'credential' | 'clientName'>) {
    this.timeoutMs = options.timeoutMs;
    this.lib = libnfs();
    this.nfs = this.lib.init_context();
    if (!this.nfs) throw new KmxError('libnfs could not create a context');
    this.lib.set_timeout(this.nfs, options.timeoutMs);
    this.lib.set_autoreconnect(this.nfs, 0); // a dead server is an error, not an endless retry
    // libnfs keeps listings and trusts them while the directory's mtime stands, but a write,
    // chmod or truncate of a file in it leaves that mtime alone: the kernel then took the
    // file's old size and mode from the next READDIRPLUS (and read only up to that size).
    this.lib.set_dircache(this.nfs, 0);
    if (options.credential) {
      const { uid, gid, groups } = options.credential;
      const list = Uint32Array.from(groups.slice(0, AUTH_SYS_MAX_GROUPS));
      // A short machine name: the credential goes into libnfs 4.0's 4 KiB request buffer with everything else.
      const auth = this.lib.authunix_create('kmx', uid >>> 0, gid >>> 0, list.length, list);
      if (!auth) throw new KmxError('libnfs could not make AUTH_SYS credentials');
      this.lib.set_auth(this.nfs, auth); // the context owns it now
    }
    if (options.clientName !== undefined) {
      this.lib.set_client_name(this.nfs, options.clientName);
      this.lib.set_verifier(this.nfs, randomBytes(8));
    }
    this.callback = this.lib.koffi.register((err: number, _nfs: Pointer, data: Pointer, id: Pointer) => this.complete(err, data, id), this.lib.koffi.pointer(this.lib.callbackType));
    // Raw RPC calls (raw.ts) complete through libnfs's rpc_cb: a status instead of a result.
    this.rpcCallback = this.lib.koffi.register((_rpc: Pointer, status: number, data: Pointer, id: Pointer) => {
      this.complete(status === 0 ? 0 : status === 1 ? -constants.errno.EFAULT : -constants.errno.EINTR, data, id);
    }, this.lib.koffi.pointer(this.lib.rpcCallbackType));
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

  /** Why the connection is gone, once it is. */
  get lost(): string | undefined {
    return this.lostReason;
  }

  /** Calls `listener` once when the connection breaks (not when closed). */
  onLost(listener: (reason: string) => void): void {
    this.lostListener = listener;
  }

  /** Calls in flight. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Resolves once no call is pending, or after `timeoutMs`: a context being replaced finishes
   * what it was asked before it goes.
   */
  drained(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0 || this.closed || this.lostReason !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      const before = this.idleWaiter;
      this.idleWaiter = () => {
        before?.();
        done();
      };
    });
  }

  /**
   * A raw RPC (raw.ts): `start(rpc, cb, id)` queues it on the context's rpc_context with the
   * rpc_cb-shaped callback; `onData` reads the decoded reply while it is valid.
   */
  rawCall<T>(what: string, start: (rpc: Pointer, cb: bigint, id: Pointer) => number, onData: (data: Pointer) => T): Promise<T> {
    return this.call(what, (_cb, id) => start(this.lib.get_rpc_context(this.nfs), this.rpcCallback, id), (data) => onData(data));
  }

  /**
   * Queues `start(cb, id)` (an nfs_*_async call with the shared callback and this request's
   * id) and resolves with `onData(data, err)` when libnfs completes it; rejects with a SysError.
   */
  call<T>(what: string, start: (cb: bigint, id: Pointer) => number, onData: (data: Pointer, result: number) => T): Promise<T> {
    if (this.closed) return Promise.reject(new ConnectionLost(what, 'the NFS connection is closed'));
    if (this.lostReason !== undefined) return Promise.reject(new ConnectionLost(what, this.lostReason));
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
    this.lib.koffi.unregister(this.rpcCallback);
    this.nfs = null;
    this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiter = this.idleWaiter;
    this.idleWaiter = undefined;
    waiter?.();
  }

  private complete(err: number, data: Pointer, idPointer: Pointer): void {
    const id = Number(this.lib.koffi.address(idPointer));
    const done = this.pending.get(id);
    if (!done) return;
    this.pending.delete(id);
    if (err >= 0 || !TRANSPORT_FAILURES.has(-err)) this.lastAnswer = Date.now();
    done(err, data);
    if (this.pending.size === 0 && this.idleWaiter) setImmediate(() => this.notifyIdle()); // not inside libnfs's callback
  }

  private toError(what: string, err: number, data: Pointer): SysError {
    if (this.closed) return new ConnectionLost(what, 'the NFS connection is closed');
    if (err === -EIO && data === null && this.lostReason !== undefined) return new ConnectionLost(what, this.lostReason);
    // The context's error string first: for a refused NFSv3 READ or WRITE, `data` is libnfs's
    // decoded reply, not a string.
    const contextError = this.error();
    let message = '';
    if (-err !== constants.errno.EFAULT || !/^NFS: (?:Read|Write) failed/.test(contextError)) {
      try {
        message = data ? String(this.lib.koffi.decode(data, 'char', -1)) : '';
      } catch {
        message = '';
      }
    }
    // By code and libnfs's own words, not by the message's path: a file named socket.h is just a name.
    const failure = classifyFailure(err, message, contextError);
    if (failure.kind === 'transport') {
      const reason = -err === constants.errno.EINTR ? `no answer from the server for ${Math.round(this.timeoutMs / 1000)} s` : failure.reason;
      this.fail(reason);
      return new ConnectionLost(what, reason);
    }
    if (failure.kind === 'state') return new NfsStateError(what, failure.status, message);
    return new SysError(failure.errno, what, undefined, { detail: message || (failure.status ? contextError : undefined) || undefined });
  }

  /**
   * The connection is gone (it broke, or a call went unanswered for the timeout): stop polling
   * its socket (at EOF it would be readable for ever), fail every call and tell the listener.
   * libnfs's own reconnection is off: connection.ts makes a new context and mounts again.
   */
  private fail(reason: string): void {
    if (this.closed || this.lostReason !== undefined) return;
    this.lostReason = reason;
    clearInterval(this.ticker);
    this.poller?.close();
    this.poller = undefined;
    this.polledFd = -1;
    for (const [id, done] of [...this.pending]) {
      this.pending.delete(id);
      done(-EIO, null);
    }
    this.notifyIdle();
    this.lostListener?.(reason);
  }

  private service(revents: number): void {
    if (this.closed || this.lostReason !== undefined) return;
    if (this.lib.service(this.nfs, revents) < 0) {
      // The connection is gone: every pending call fails now instead of waiting for its timeout.
      this.fail(plainReason(this.error()));
      return;
    }
    this.arm();
  }

  private arm(): void {
    if (this.closed || this.lostReason !== undefined) return;
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
      this.service(POLLERR);
      return;
    }
    // A hang-up is passed as POLLERR: libnfs then reads the socket's error (ECONNREFUSED, …),
    // where with POLLHUP it says only "Socket failed with POLLHUP".
    this.service((ev.readable ? POLLIN : 0) | (ev.writable ? POLLOUT : 0) | (ev.disconnect ? POLLERR : 0));
  }
}
