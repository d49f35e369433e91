import { SysError } from '@kmx/core';
import { ConnectionLost } from '../protocol/errors.js';
import type { SftpSession } from '../protocol/session.js';

export interface ConnectionOptions {
  /** Opens a fresh SFTP session (ssh, or the --via command). */
  open: () => Promise<SftpSession>;
  /**
   * The bound on waiting: an operation fails with EIO once the server has not answered (or
   * could not be reached again) for this long. A request with no answer for this long also
   * declares the connection dead.
   */
  timeoutMs: number;
  /** Reconnect after a drop (sshfs -o reconnect); without it the mount fails every operation with EIO. */
  reconnect: boolean;
  /** First and largest delay between reconnection attempts. */
  backoffMs: { first: number; max: number };
  log: (line: string) => void;
  /** Told whenever the state changes (for `kmx mounts`). */
  onState?: (state: ConnectionState) => void;
}

export interface ConnectionState {
  status: 'connected' | 'reconnecting' | 'down';
  /** Connections made so far (1 = the first). */
  generation: number;
  detail: string;
}

const EIO = 5;

/**
 * The SFTP connection behind a mount, kept alive. When it drops (the transport closes, or a
 * request goes unanswered for `timeoutMs`), requests in flight fail, and a new connection is
 * made with exponential backoff. `run` says what callers see:
 * - an operation that is safe to repeat (stat, readdir, read, …) is sent again on the new
 *   connection, as long as that happens within `timeoutMs` of its start;
 * - one that is not (mkdir, unlink, rename, write, …) fails with EIO when it was in flight,
 *   since the server may or may not have done it;
 * - operations issued while the connection is down wait for it, at most `timeoutMs`, then EIO.
 */
export class Connection {
  private current: SftpSession | undefined;
  private connecting: Promise<void> | undefined;
  private generationCount = 0;
  private waiters: Array<() => void> = [];
  private stateValue: ConnectionState = { status: 'down', generation: 0, detail: 'not connected' };
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;
  private backoff: number;

  constructor(private readonly options: ConnectionOptions) {
    this.backoff = options.backoffMs.first;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The connection generation: handles opened on an older one are gone on the server. */
  get generation(): number {
    return this.generationCount;
  }

  /** The live session, if there is one right now (for synchronous fast paths). */
  get live(): SftpSession | undefined {
    return this.current && !this.current.closed ? this.current : undefined;
  }

  /** The first connection; its failure is the mount's failure (nothing is mounted yet). */
  async start(): Promise<SftpSession> {
    const session = await this.options.open();
    this.adopt(session);
    this.watchdog = setInterval(() => this.checkProgress(), Math.min(1000, this.options.timeoutMs / 2));
    this.watchdog.unref();
    return session;
  }

  /** The live session, waiting (bounded) for a reconnection if there is none. */
  async session(deadline = Date.now() + this.options.timeoutMs): Promise<SftpSession> {
    while (true) {
      if (this.current && !this.current.closed) return this.current;
      if (this.closed || !this.options.reconnect) throw SysError.of('EIO', 'sftp', undefined, { detail: this.stateValue.detail });
      this.reconnectSoon();
      const left = deadline - Date.now();
      if (left <= 0) throw SysError.of('EIO', 'sftp', undefined, { detail: `no connection for ${Math.round(this.options.timeoutMs / 1000)} s (${this.stateValue.detail})` });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Runs one operation against the live session. `repeatable` operations are sent again after
   * a reconnection; others fail with EIO if the connection dropped while they were in flight.
   */
  async run<T>(repeatable: boolean, operation: (session: SftpSession) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.timeoutMs;
    while (true) {
      // A live session is used at once: the request is sent before run() returns its promise.
      const session = this.live ?? await this.session(deadline);
      try {
        return await operation(session);
      } catch (err) {
        if (!(err instanceof ConnectionLost)) throw err;
        this.lost(session, err.message);
        if (!repeatable || Date.now() >= deadline) throw new SysError(EIO, err.syscall, undefined, { detail: 'the connection dropped during the operation' });
      }
    }
  }

  /** Stops reconnecting and closes the session. */
  close(): void {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.current?.close('unmounted');
    this.wake();
  }

  private adopt(session: SftpSession): void {
    this.current = session;
    this.generationCount++;
    this.backoff = this.options.backoffMs.first;
    session.onClose((reason) => this.lost(session, reason));
    this.setState({ status: 'connected', generation: this.generationCount, detail: this.generationCount > 1 ? `reconnected ${this.generationCount - 1} time(s)` : 'connected' });
    this.wake();
  }

  private lost(session: SftpSession, reason: string): void {
    if (this.current !== session) return;
    this.current = undefined;
    session.close(reason);
    if (this.closed) return;
    this.options.log(`connection lost: ${reason}${this.options.reconnect ? '; reconnecting' : ''}`);
    this.setState({ status: this.options.reconnect ? 'reconnecting' : 'down', generation: this.generationCount, detail: `connection lost: ${reason}` });
    if (this.options.reconnect) this.reconnectSoon();
  }

  /** Requests in flight with no answer for the timeout: the server or the path to it is dead. */
  private checkProgress(): void {
    const session = this.current;
    if (!session) return;
    const { pending, lastProgress } = session.progress();
    if (pending > 0 && Date.now() - lastProgress > this.options.timeoutMs) {
      this.lost(session, `no answer for ${Math.round(this.options.timeoutMs / 1000)} s`);
    }
  }

  private reconnectSoon(): void {
    if (this.connecting || this.closed || !this.options.reconnect || this.current) return;
    this.connecting = (async () => {
      while (!this.closed && !this.current) {
        try {
          const session = await this.options.open();
          if (this.closed) {
            session.close('unmounted');
            break;
          }
          this.options.log('reconnected');
          this.adopt(session);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          this.setState({ status: 'reconnecting', generation: this.generationCount, detail: `reconnecting: ${why}` });
          await new Promise((resolve) => setTimeout(resolve, this.backoff).unref());
          this.backoff = Math.min(this.backoff * 2, this.options.backoffMs.max);
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
