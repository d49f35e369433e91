import type { Readable, Writable } from 'node:stream';
import type { KmxError } from '@kmx/core';
import { sftpOverStream } from '../protocol/adapter.js';
import { SftpSession } from '../protocol/session.js';

/** A raw SFTP session (no SSH) being started over a transport's streams. */
export interface StartingSession {
  session: SftpSession;
  /** Resolves once the server answered SFTP's INIT; rejects with the first failure. */
  started: Promise<SftpSession>;
  /** The transport failed (`why`, for the error): stops it; no effect once started. */
  fail(why: string): void;
}

/**
 * Starts SFTP over `input`/`output` (`output` corked per tick, see the adapter): the session, and
 * its start bounded by `timeoutMs`. `stop` ends the transport; `error` words a failure.
 */
export function startSession(input: Readable, output: Writable, options: { stop: () => void; timeoutMs: number; error: (why: string) => KmxError }): StartingSession {
  const { sftp } = sftpOverStream(input, output, { carrier: output });
  const session = new SftpSession(sftp, options.stop);
  let settled = false;
  let fail: (why: string) => void = () => undefined;
  const started = new Promise<SftpSession>((resolve, reject) => {
    fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.stop();
      reject(options.error(why));
    };
    const timer = setTimeout(() => fail(`did not start an SFTP session within ${Math.round(options.timeoutMs / 1000)} s`), options.timeoutMs);
    sftp.once('ready', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(session);
    });
    sftp.on('error', (err: Error) => fail(`does not speak SFTP (${err.message})`));
  });
  return { session, started, fail: (why) => fail(why) };
}
