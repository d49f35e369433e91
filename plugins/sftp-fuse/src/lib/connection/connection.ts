import { KeptConnection, type ConnectionState, type ConnectionWords } from '@kmx/core';
import { ConnectionLost } from '../protocol/errors.js';
import type { SftpSession } from '../protocol/session.js';

export type { ConnectionState };

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

const words: ConnectionWords = {
  syscall: 'sftp',
  to: '',
  lost: (reason) => `connection lost: ${reason}`,
  reconnected: (generation) => ({ detail: `reconnected ${generation - 1} time(s)`, line: 'reconnected' }),
  retrying: (why) => `reconnecting: ${why}`,
  dropped: () => 'the connection dropped during the operation',
};

/** Requests in flight with no answer for the timeout: the server or the path to it is dead. */
function stalled(session: SftpSession, timeoutMs: number): string | undefined {
  const { pending, lastProgress } = session.progress();
  return pending > 0 && Date.now() - lastProgress > timeoutMs ? `no answer for ${Math.round(timeoutMs / 1000)} s` : undefined;
}

/**
 * The SFTP connection behind a mount, kept alive (KeptConnection): when the transport closes,
 * or a request goes unanswered for `timeoutMs`, requests in flight fail and a new session is
 * opened at once, then with exponential backoff. Handles opened on an older generation are
 * gone on the server.
 */
export class Connection extends KeptConnection<SftpSession> {
  constructor(options: ConnectionOptions) {
    super({
      ...options,
      close: (session, reason) => session.close(reason ?? 'unmounted'),
      onLost: (session, listener) => session.onClose(listener),
      lostReason: (err) => (err instanceof ConnectionLost ? err.message : undefined),
      probe: { everyMs: Math.min(1000, options.timeoutMs / 2), check: (session) => stalled(session, options.timeoutMs) },
      retryAtOnce: true,
      words,
    });
  }
}
