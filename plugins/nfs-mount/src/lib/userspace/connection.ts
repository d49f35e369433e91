import { SysError } from '@kmx/core';
import { ConnectionLost, type NfsContext } from './driver.js';

// The NFS connection behind a user-space mount, kept alive as kmx sftp keeps its SSH one
// (plugins/sftp-fuse/src/lib/connection/connection.ts). libnfs's own reconnection is off (it
// would retry for ever, or give up for good): when a connection breaks, or a call or the idle
// probe goes unanswered for the timeout, a new libnfs context mounts the export again, with
// exponential backoff, for as long as the mount lives.

/** One libnfs context with the export mounted: a connection generation. */
export interface Session {
  ctx: NfsContext;
  /** 1 for the first connection, then one more per reconnection. */
  generation: number;
  /** The largest read and write one call may carry on it. */
  readMax: number;
  writeMax: number;
  /** Set once the connection is gone: its file handles mean nothing to a new one. */
  lost: boolean;
}

export type Mounted = Omit<Session, 'generation' | 'lost'>;

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
  /** An idle connection is asked for the export root's attributes this often (a real request). */
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

  constructor(first: Mounted, private readonly options: NfsConnectionOptions, private readonly probe: (session: Session) => Promise<unknown>) {
    this.backoffMs = options.backoffMs ?? { first: 250, max: 5000 };
    this.backoff = this.backoffMs.first;
    this.stateValue = { status: 'connected', generation: 0, since: new Date(), detail: 'connected' };
    this.adopt(first);
    const probeMs = options.probeMs ?? Math.min(5000, options.timeoutMs);
    this.prober = setInterval(() => void this.probeIfIdle(probeMs), Math.max(250, Math.floor(probeMs / 2)));
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
    for (;;) {
      const session = this.current ?? (await this.session(deadline));
      try {
        return await operation(session);
      } catch (err) {
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
    const session: Session = { ...mounted, generation: this.generationCount, lost: false };
    this.current = session;
    this.backoff = this.backoffMs.first;
    session.ctx.onLost((reason) => this.lost(session, reason));
    const now = new Date();
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

  private reconnectSoon(): void {
    if (this.connecting || this.closed || this.current) return;
    this.connecting = (async () => {
      while (!this.closed && !this.current) {
        await new Promise((resolve) => setTimeout(resolve, this.backoff).unref());
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
          if (this.stateValue.status === 'reconnecting' && why !== this.stateValue.detail) {
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
