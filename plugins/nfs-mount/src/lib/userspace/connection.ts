import { KeptConnection, SysError, type ConnectionState, type ConnectionWords } from '@kmx/core';
import type { NfsContext } from './driver.js';
import { ConnectionLost, NfsStateError } from './failures.js';

// The NFS connection behind a user-space mount, kept alive by @kmx/core's KeptConnection, as
// kmx sftp keeps its SSH one. libnfs's own reconnection is off (it would retry for ever, or give
// up for good): when a connection breaks, or a call or the idle probe goes unanswered for the
// timeout, a new libnfs context mounts the export again, with exponential backoff, for as long
// as the mount lives. On NFSv4 a context whose open state is out of step with the server's is
// replaced the same way, at once (renew).

/** One libnfs context with the export mounted. */
export interface Session {
  ctx: NfsContext;
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

export type Mounted = Omit<Session, 'lost' | 'retired'>;

export interface NfsConnectionOptions {
  /** Connects and mounts anew; close() aborts `signal` to stop the attempt. */
  open: (signal: AbortSignal) => Promise<Mounted>;
  /** What a caller waits at most: a call, or the connection to come back for a call. */
  timeoutMs: number;
  /** First and largest delay between reconnection attempts. */
  backoffMs?: { first: number; max: number };
  /** An idle connection is asked for the export root's attributes this often (a real request); 0: never. */
  probeMs?: number;
  log: (line: string) => void;
  onState?: (state: ConnectionState) => void;
}

/** `2025-01-31 13:05:09`, local time. */
export function clockTime(date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

const words: ConnectionWords = {
  syscall: 'nfs',
  to: ' to the NFS server',
  lost: (reason) => reason,
  reconnected: (_generation, now, downSince) => {
    const line = `reconnected ${clockTime(now)} after ${Math.max(1, Math.round((now.getTime() - downSince.getTime()) / 1000))} s down`;
    return { detail: line, line };
  },
  retrying: (why) => why,
  dropped: (reason) => `the connection to the NFS server was lost (${reason})`,
  closing: 'the mount is closing',
};

function fresh(mounted: Mounted): Session {
  return { ...mounted, lost: false, retired: false };
}

/** An idle connection's server may have gone without a word: ask it something real. */
async function idleProbe(session: Session, probeMs: number, probe: (session: Session) => Promise<unknown>): Promise<string | undefined> {
  if (session.ctx.pendingCount > 0 || Date.now() - session.ctx.lastAnswer < probeMs) return undefined;
  try {
    await probe(session);
  } catch (err) {
    if (err instanceof ConnectionLost) return err.reason;
    // Any other answer is an answer: the server is there.
  }
  return undefined;
}

/** The kept connection, plus NFSv4's fresh client when the server refuses this one's state. */
export class NfsConnection extends KeptConnection<Session> {
  constructor(first: Mounted, options: NfsConnectionOptions, probe: (session: Session) => Promise<unknown>) {
    const probeMs = options.probeMs ?? Math.min(5000, options.timeoutMs);
    super({
      open: async (signal) => fresh(await options.open(signal)),
      close: (session, reason) => {
        session.lost = true;
        if (reason === undefined) {
          session.ctx.close();
          return;
        }
        // Not now: this may run inside one of its libnfs callbacks, and close() frees the context.
        // Its file handles are not freed: closing them would need the context, whose calls still
        // queued may point at them (a hundred bytes or so per file open at a reconnection).
        setImmediate(() => session.ctx.close());
      },
      onLost: (session, listener) => session.ctx.onLost(listener),
      lostReason: (err) => (err instanceof ConnectionLost ? err.reason : undefined),
      ...(probeMs > 0 ? { probe: { everyMs: Math.max(250, Math.floor(probeMs / 2)), check: (session: Session) => idleProbe(session, probeMs, probe) } } : {}),
      timeoutMs: options.timeoutMs,
      reconnect: true,
      backoffMs: options.backoffMs ?? { first: 250, max: 5000 },
      words,
      log: options.log,
      ...(options.onState ? { onState: options.onState } : {}),
    });
    this.adopt(fresh(first));
  }

  /**
   * As KeptConnection's run; besides, an operation the server refused for its NFSv4 state was
   * not carried out: it is sent once more (whatever it is) on a fresh client, and a second
   * refusal is the caller's.
   */
  override async run<T>(repeatable: boolean, operation: (session: Session) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.timeoutMs;
    for (let renewed = false; ; renewed = true) {
      let on: Session | undefined;
      try {
        return await super.run(repeatable, (session) => operation((on = session)), deadline);
      } catch (err) {
        if (!(err instanceof NfsStateError) || on === undefined) throw err;
        this.renew(on, `the server refused its NFSv4 state (NFS4ERR_${err.status})`);
        if (renewed || this.closed) throw SysError.of('EIO', err.syscall, undefined, { detail: err.message });
      }
    }
  }

  /**
   * NFSv4: `session`'s open state may be out of step with the server's (a refused OPEN or
   * CLOSE leaves libnfs 4.0's open-owner sequence behind or ahead of the server's, and then
   * every OPEN fails), or the server no longer knows it (it let the lease expire, say: libnfs
   * 4.0 never renews it). It is replaced by a fresh client of the same name: new operations
   * wait for it, the calls in flight finish first (at most the timeout), and the server, seeing
   * the same client with a new verifier, drops the old one's state. Open files are opened again
   * on the new one before their next use; nothing the server acknowledged is lost, unlike after
   * a broken connection. `quiet`: an expected step (after a refusal), not worth a log line.
   */
  renew(session: Session, reason: string, quiet = false): void {
    if (this.live !== session || this.closed) return;
    session.retired = true;
    if (!quiet) this.options.log(`${reason}: starting a fresh NFSv4 client`);
    this.replace(session, session.ctx.drained(this.options.timeoutMs).then(() => session.ctx.close()));
  }
}
