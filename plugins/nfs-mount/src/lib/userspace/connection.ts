import { SysError } from '@kmx/core';
import { ConnectionLost, NfsStateError, type NfsContext } from './driver.js';

// The NFS connection behind a user-space mount, kept alive as kmx sftp keeps its SSH one
// (plugins/sftp-fuse/src/lib/connection/connection.ts). libnfs's own reconnection is off (it
// would retry for ever, or give up for good): when a connection breaks, or a call or the idle
// probe goes unanswered for the timeout, a new libnfs context mounts the export again, with
// exponential backoff, for as long as the mount lives. On NFSv4 a context whose open state is
// out of step with the server's is replaced the same way, at once (renew).

/** One libnfs context with the export mounted: a connection generation. */
export interface Session {
  ctx: NfsContext;
  /** 1 for the first connection, then one more per reconnection. */
  generation: number;
  /** The largest read and write one call may carry on it. */
  readMax: number;
  writeMax: number;
  /**
   * Set once the connection is gone: its file handles mean nothing to a new one, and writes it
   * had acknowledged but not committed may be lost (the server may have restarted).
   */
  lost: boolean;
  /**
   * Set once it was replaced by a fresh NFSv4 client (renew): its handles mean nothing to the
   * new one either, but the server kept everything it had acknowledged.
   */
  retired: boolean;
  /** The longest name the server takes (statfs f_namemax, pathconf _PC_NAME_MAX). */
  nameMax: number;
}

export type Mounted = Omit<Session, 'generation' | 'lost' | 'retired'>;

export interface ConnectionState {
  status: 'connected' | 'reconnecting';
  generation: number;
  /** When the connection was made, or went down. */
  since: Date;
  detail: string;
}

export interface NfsConnectionOptions {
  /** Connects and mounts anew; `track` is given the context first, so that close() can stop the attempt. */
  open: (track: (ctx: NfsContext) => void) => Promise<Mounted>;
  /** What a caller waits at most: a call, or the connection to come back for a call. */
  timeoutMs: number;
  /** First and largest delay between reconnection attempts. */
  backoffMs?: { first: number; max: number };
  /** An idle connection is asked for the export root's attributes this often (a real request); 0: never. */
  probeMs?: number;
  log: (line: string) => void;
  onState?: (state: ConnectionState) => void;
}

const EIO = 5;

/** `2025-01-31 13:05:09`, local time. */
export function clockTime(date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

/**
 * What callers see (`run`):
 * - an operation that is safe to repeat (getattr, read, a write at an offset, readdir, setting
 *   attributes, …) is sent again on the new connection, as long as that happens within the
 *   timeout of its start;
 * - one that is not (create, mkdir, unlink, rename, link, …) fails with EIO if it was in
 *   flight when the connection broke: the server may or may not have done it;
 * - operations issued while the connection is down wait for it, at most the timeout, then EIO.
 */
export class NfsConnection {
  private current: Session | undefined;
  private generationCount = 0;
  private connecting: Promise<void> | undefined;
  /** The context of a reconnection attempt under way. */
  private attempt: NfsContext | undefined;
  private waiters: Array<() => void> = [];
  private closed = false;
  private readonly backoffMs: { first: number; max: number };
  private backoff: number;
  private stateValue: ConnectionState;
  private readonly prober: NodeJS.Timeout;
  private probing = false;
  /** Contexts being replaced (renew), until their calls in flight are done and they are closed. */
  private retiring: Promise<void> = Promise.resolve();

  constructor(first: Mounted, private readonly options: NfsConnectionOptions, private readonly probe: (session: Session) => Promise<unknown>) {
    this.backoffMs = options.backoffMs ?? { first: 250, max: 5000 };
    this.backoff = this.backoffMs.first;
    this.stateValue = { status: 'connected', generation: 0, since: new Date(), detail: 'connected' };
    this.adopt(first);
    const probeMs = options.probeMs ?? Math.min(5000, options.timeoutMs);
    this.prober = setInterval(() => void (probeMs > 0 && this.probeIfIdle(probeMs)), probeMs > 0 ? Math.max(250, Math.floor(probeMs / 2)) : 60_000);
    this.prober.unref();
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The live connection, if there is one right now. */
  get live(): Session | undefined {
    return this.current;
  }

  /** The live connection, waiting (until `deadline`) for a reconnection if there is none. */
  async session(deadline = Date.now() + this.options.timeoutMs): Promise<Session> {
    for (;;) {
      if (this.current) return this.current;
      if (this.closed) throw SysError.of('EIO', 'nfs', undefined, { detail: 'the mount is closing' });
      this.reconnectSoon();
      const left = deadline - Date.now();
      if (left <= 0) throw SysError.of('EIO', 'nfs', undefined, { detail: `no connection to the NFS server for ${Math.round(this.options.timeoutMs / 1000)} s (${this.stateValue.detail})` });
      await new Promise<void>((resolve) => {
        const waiter = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve();
        }, left);
        this.waiters.push(waiter);
      });
    }
  }

  /**
   * Runs `operation` on the live connection. A `repeatable` one is sent again on a new
   * connection if this one breaks under it (within the timeout); others then fail with EIO.
   */
  async run<T>(repeatable: boolean, operation: (session: Session) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.timeoutMs;
    let renewed = false;
    for (;;) {
      const session = this.current ?? (await this.session(deadline));
      try {
        return await operation(session);
      } catch (err) {
        if (err instanceof NfsStateError) {
          // Not carried out: the server does not know this client's state. Once more, on a
          // fresh client (any operation: nothing was done); a second refusal is the caller's.
          this.renew(session, `the server refused its NFSv4 state (NFS4ERR_${err.status})`);
          if (renewed || this.closed) throw new SysError(EIO, err.syscall, undefined, { detail: err.message });
          renewed = true;
          continue;
        }
        if (!(err instanceof ConnectionLost)) throw err;
        this.lost(session, err.reason);
        if (!repeatable || this.closed || Date.now() >= deadline) {
          throw new SysError(EIO, err.syscall, undefined, { detail: `the connection to the NFS server was lost (${err.reason})` });
        }
      }
    }
  }

  /** The connection `session` is gone (or unusable): make a new one. */
  lost(session: Session, reason: string): void {
    if (this.current !== session) return;
    this.current = undefined;
    session.lost = true;
    // Not now: this may run inside one of its libnfs callbacks, and close() frees the context.
    // Its file handles are not freed: closing them would need the context, whose calls still
    // queued may point at them (a hundred bytes or so per file open at a reconnection).
    setImmediate(() => session.ctx.close());
    if (this.closed) return;
    this.options.log(`connection to the NFS server lost: ${reason}; reconnecting`);
    this.setState({ status: 'reconnecting', generation: this.generationCount, since: new Date(), detail: reason });
    this.reconnectSoon();
  }

  /**
   * NFSv4: `session`'s open state may be out of step with the server's (a refused OPEN or
   * CLOSE leaves libnfs 4.0's open-owner sequence behind or ahead of the server's, and then
   * every OPEN fails), or the server no longer knows it (it let the lease expire, say: libnfs
   * 4.0 never renews it). It is replaced by a
   * fresh client of the same name: new operations wait for it, the calls in flight finish
   * first (at most the timeout), and the server, seeing the same client with a new verifier,
   * drops the old one's state. Open files are opened again on the new one before their next
   * use; nothing the server acknowledged is lost, unlike after a broken connection. `quiet`:
   * an expected step (after a refusal), not worth a log line.
   */
  renew(session: Session, reason: string, quiet = false): void {
    if (this.current !== session || this.closed) return;
    this.current = undefined;
    session.retired = true;
    if (!quiet) this.options.log(`${reason}: starting a fresh NFSv4 client`);
    const old = session.ctx.drained(this.options.timeoutMs).then(() => session.ctx.close());
    this.retiring = this.retiring.then(() => old);
    this.reconnectSoon(0);
  }

  /** Stops reconnecting and closes the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.prober);
    this.attempt?.close();
    if (this.current) {
      this.current.lost = true;
      this.current.ctx.close();
      this.current = undefined;
    }
    this.wake();
  }

  private adopt(mounted: Mounted): void {
    const downSince = this.stateValue.status === 'reconnecting' ? this.stateValue.since : undefined;
    this.generationCount++;
    const session: Session = { ...mounted, generation: this.generationCount, lost: false, retired: false };
    this.current = session;
    this.backoff = this.backoffMs.first;
    session.ctx.onLost((reason) => this.lost(session, reason));
    const now = new Date();
    if (this.stateValue.status === 'connected' && this.generationCount > 1) {
      // A fresh NFSv4 client on a connection that never went down (renew): the state stands.
      this.stateValue = { ...this.stateValue, generation: this.generationCount };
      this.wake();
      return;
    }
    const detail = downSince ? `reconnected ${clockTime(now)} after ${Math.max(1, Math.round((now.getTime() - downSince.getTime()) / 1000))} s down` : 'connected';
    if (downSince) this.options.log(detail);
    this.setState({ status: 'connected', generation: this.generationCount, since: now, detail });
    this.wake();
  }

  /** An idle connection's server may have gone without a word: ask it something real. */
  private async probeIfIdle(probeMs: number): Promise<void> {
    const session = this.current;
    if (!session || this.probing || session.ctx.pendingCount > 0 || Date.now() - session.ctx.lastAnswer < probeMs) return;
    this.probing = true;
    try {
      await this.probe(session);
    } catch (err) {
      if (err instanceof ConnectionLost) this.lost(session, err.reason);
      // Any other answer is an answer: the server is there.
    } finally {
      this.probing = false;
    }
  }

  /** Starts reconnecting, after `firstDelayMs` (the backoff by default). */
  private reconnectSoon(firstDelayMs?: number): void {
    if (this.connecting || this.closed || this.current) return;
    this.connecting = (async () => {
      let delay = firstDelayMs ?? this.backoff;
      while (!this.closed && !this.current) {
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        delay = this.backoff;
        await this.retiring; // the server must see the old client's last calls before the new one
        if (this.closed) break;
        try {
          const mounted = await this.options.open((ctx) => (this.attempt = ctx));
          if (this.closed) {
            mounted.ctx.close();
            break;
          }
          this.adopt(mounted);
        } catch (err) {
          const why = err instanceof ConnectionLost ? err.reason : err instanceof Error ? err.message : String(err);
          if (this.stateValue.status === 'connected') {
            // A fresh start (renew) that could not connect: the server is down meanwhile.
            this.options.log(`connection to the NFS server lost: ${why}; reconnecting`);
            this.setState({ status: 'reconnecting', generation: this.generationCount, since: new Date(), detail: why });
          } else if (why !== this.stateValue.detail) {
            this.setState({ ...this.stateValue, detail: why });
          }
          this.backoff = Math.min(this.backoff * 2, this.backoffMs.max);
        } finally {
          this.attempt = undefined;
        }
      }
    })().finally(() => {
      this.connecting = undefined;
    });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private setState(state: ConnectionState): void {
    this.stateValue = state;
    this.options.onState?.(state);
  }
}
