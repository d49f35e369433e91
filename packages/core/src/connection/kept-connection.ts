import { SysError } from '../errors/index.js';

// The connection behind a mount that talks to a server, kept alive for as long as the mount
// lives. What a session is, and how one is opened, closed and checked, is its owner's; so are
// the words it logs and shows.

/** What a kept connection tells `kmx mounts`. */
export interface ConnectionState {
  status: 'connected' | 'reconnecting' | 'down';
  /** Sessions opened so far (1: the first). */
  generation: number;
  /** When it was made, or went down. */
  since: Date;
  detail: string;
}

/** The owner's words for what happens to its connection: log lines, status details, error details. */
export interface ConnectionWords {
  /** The syscall its own errors name ('nfs'). */
  syscall: string;
  /** Whom it connects to, as in "connection to the NFS server lost": ' to the NFS server', or ''. */
  to: string;
  /** The status detail once the connection was lost for `reason`. */
  lost: (reason: string) => string;
  /** The status detail, and the line logged, once it is back at `now` after being down since `downSince`. */
  reconnected: (generation: number, now: Date, downSince: Date) => { detail: string; line: string };
  /** The status detail while reconnecting fails for `why`. */
  retrying: (why: string) => string;
  /** The error detail of an operation in flight when the connection was lost for `reason`. */
  dropped: (reason: string) => string;
  /** The error detail of an operation once the connection is closed (by default, the state's detail). */
  closing?: string;
}

export interface KeptConnectionOptions<S> {
  /** Opens a session (connects, logs in, mounts…); `signal` is aborted when close() cuts the attempt short. */
  open: (signal: AbortSignal) => Promise<S>;
  /**
   * Ends a session: one lost for `reason` (which may be found inside one of its own callbacks),
   * or, without a reason, the one close() leaves behind.
   */
  close: (session: S, reason?: string) => void;
  /** Calls `listener` once when `session` breaks by itself. */
  onLost: (session: S, listener: (reason: string) => void) => void;
  /** Why an operation's failure says the connection broke; undefined when the operation failed on its own. */
  lostReason: (err: unknown) => string | undefined;
  /** The live session is checked every `everyMs`: `check` names why it is dead when it is, though it said nothing. */
  probe?: { everyMs: number; check: (session: S) => Promise<string | undefined> | string | undefined };
  /** What a caller waits at most: an operation's answer, or the connection to come back for it. */
  timeoutMs: number;
  /** Reconnect after a loss; without it every operation fails with EIO from then on. */
  reconnect: boolean;
  /** First and largest delay between reconnection attempts (doubled after each failure). */
  backoffMs: { first: number; max: number };
  /** The first attempt after a loss comes at once, not after the first delay. */
  retryAtOnce?: boolean;
  words: ConnectionWords;
  log: (line: string) => void;
  /** Told whenever the state changes. */
  onState?: (state: ConnectionState) => void;
}

/**
 * A connection kept alive: it is lost when its session breaks or a check finds it dead, and a
 * new session is then opened, with exponential backoff. What callers of `run` see:
 * - an operation that is safe to repeat is sent again on the new session, as long as that
 *   happens within the timeout of its start;
 * - one that is not fails with EIO if it was in flight when the connection broke: the server
 *   may or may not have done it;
 * - operations issued while the connection is down wait for it, at most the timeout, then EIO.
 */
export class KeptConnection<S> {
  private current: S | undefined;
  private generationCount = 0;
  private connecting: Promise<void> | undefined;
  /** The reconnection attempt under way. */
  private attempt: AbortController | undefined;
  private waiters: Array<() => void> = [];
  private shut = false;
  private backoff: number;
  private stateValue: ConnectionState = { status: 'down', generation: 0, since: new Date(), detail: 'not connected' };
  private prober: NodeJS.Timeout | undefined;
  private probing = false;
  /** Sessions being replaced, until they are done with: the fresh one is opened after. */
  private replacing: Promise<void> = Promise.resolve();

  constructor(protected readonly options: KeptConnectionOptions<S>) {
    this.backoff = options.backoffMs.first;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Sessions opened so far: what was opened on an older one is gone on the server. */
  get generation(): number {
    return this.generationCount;
  }

  /** The live session, if there is one right now (for synchronous fast paths). */
  get live(): S | undefined {
    return this.current;
  }

  get closed(): boolean {
    return this.shut;
  }

  /** Opens the first session; its failure is the caller's (there is nothing to reconnect yet). */
  async start(): Promise<S> {
    const session = await this.options.open(new AbortController().signal);
    this.adopt(session);
    return session;
  }

  /** The live session, waiting (until `deadline`) for a reconnection if there is none. */
  async session(deadline = Date.now() + this.options.timeoutMs): Promise<S> {
    const { words } = this.options;
    for (;;) {
      if (this.current) return this.current;
      if (this.shut || !this.options.reconnect) {
        throw SysError.of('EIO', words.syscall, undefined, { detail: (this.shut && words.closing) || this.stateValue.detail });
      }
      this.reconnectSoon();
      const left = deadline - Date.now();
      if (left <= 0) {
        throw SysError.of('EIO', words.syscall, undefined, { detail: `no connection${words.to} for ${Math.round(this.options.timeoutMs / 1000)} s (${this.stateValue.detail})` });
      }
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
   * Runs `operation` on the live session. A `repeatable` one is sent again on a new session if
   * the connection breaks under it (until `deadline`); others then fail with EIO.
   */
  async run<T>(repeatable: boolean, operation: (session: S) => Promise<T>, deadline = Date.now() + this.options.timeoutMs): Promise<T> {
    for (;;) {
      // A live session is used at once: the request goes out before run() returns its promise.
      const session = this.current ?? (await this.session(deadline));
      try {
        return await operation(session);
      } catch (err) {
        const reason = this.options.lostReason(err);
        if (reason === undefined) throw err;
        this.lost(session, reason);
        if (!repeatable || this.shut || Date.now() >= deadline) {
          throw SysError.of('EIO', err instanceof SysError ? err.syscall : this.options.words.syscall, undefined, { detail: this.options.words.dropped(reason) });
        }
      }
    }
  }

  /** The connection of `session` is gone (or unusable): make a new one. */
  lost(session: S, reason: string): void {
    if (this.current !== session) return;
    this.current = undefined;
    this.options.close(session, reason);
    if (this.shut) return;
    this.wentDown(reason);
    this.reconnectSoon();
  }

  /**
   * Swaps `session` for a fresh one while the connection stays up (its state stands): new
   * operations wait for the fresh one, opened once `done` has settled (the owner ends the old
   * one there, once its calls in flight are answered, say).
   */
  replace(session: S, done: Promise<unknown>): void {
    if (this.current !== session || this.shut) return;
    this.current = undefined;
    this.replacing = this.replacing.then(() => done).then(() => undefined, () => undefined);
    this.reconnectSoon(0);
  }

  /** Stops reconnecting and closes the session. */
  close(): void {
    if (this.shut) return;
    this.shut = true;
    if (this.prober) clearInterval(this.prober);
    this.attempt?.abort();
    const session = this.current;
    this.current = undefined;
    if (session !== undefined) this.options.close(session);
    this.wake();
  }

  /** `session` is the live one from now on. */
  protected adopt(session: S): void {
    const { status, since } = this.stateValue;
    const generation = ++this.generationCount;
    const now = new Date();
    const back = status === 'reconnecting' ? this.options.words.reconnected(generation, now, since) : undefined;
    if (back) this.options.log(back.line);
    this.current = session;
    this.backoff = this.options.backoffMs.first;
    this.options.onLost(session, (reason) => this.lost(session, reason));
    this.startProbing();
    if (status === 'connected' && generation > 1) {
      // A fresh session on a connection that never went down (replace): the state stands.
      this.stateValue = { ...this.stateValue, generation };
    } else {
      this.setState({ status: 'connected', generation, since: now, detail: back?.detail ?? 'connected' });
    }
    this.wake();
  }

  private wentDown(reason: string): void {
    const { reconnect, words } = this.options;
    this.options.log(`connection${words.to} lost: ${reason}${reconnect ? '; reconnecting' : ''}`);
    this.setState({ status: reconnect ? 'reconnecting' : 'down', generation: this.generationCount, since: new Date(), detail: words.lost(reason) });
  }

  private startProbing(): void {
    const probe = this.options.probe;
    if (this.prober || !probe) return;
    this.prober = setInterval(() => void this.probeLive(probe.check), probe.everyMs);
    this.prober.unref();
  }

  private async probeLive(check: (session: S) => Promise<string | undefined> | string | undefined): Promise<void> {
    const session = this.current;
    if (session === undefined || this.probing) return;
    this.probing = true;
    try {
      const dead = await check(session);
      if (dead !== undefined) this.lost(session, dead);
    } finally {
      this.probing = false;
    }
  }

  /** Opens sessions, after `firstDelayMs` then with backoff, until one opens or the connection is closed. */
  private reconnectSoon(firstDelayMs = this.options.retryAtOnce ? 0 : this.backoff): void {
    if (this.connecting || this.shut || !this.options.reconnect || this.current) return;
    this.connecting = (async () => {
      let delay = firstDelayMs;
      while (!this.shut && !this.current) {
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
        delay = this.backoff;
        await this.replacing; // the server must see the replaced session's last calls before the fresh one
        if (this.shut) break;
        const attempt = (this.attempt = new AbortController());
        try {
          const session = await this.options.open(attempt.signal);
          if (this.shut) {
            this.options.close(session);
            break;
          }
          this.adopt(session);
        } catch (err) {
          this.attemptFailed(err);
          this.backoff = Math.min(this.backoff * 2, this.options.backoffMs.max);
        } finally {
          this.attempt = undefined;
        }
      }
    })().finally(() => {
      this.connecting = undefined;
    });
  }

  private attemptFailed(err: unknown): void {
    const why = this.options.lostReason(err) ?? (err instanceof Error ? err.message : String(err));
    if (this.stateValue.status === 'connected') {
      // A fresh session (replace) that could not be opened: the connection is down meanwhile.
      this.wentDown(why);
      return;
    }
    const detail = this.options.words.retrying(why);
    if (detail !== this.stateValue.detail) this.setState({ ...this.stateValue, detail });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private setState(state: ConnectionState): void {
    this.stateValue = state;
    this.options.onState?.(state);
  }
}
