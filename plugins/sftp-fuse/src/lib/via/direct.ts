import { connect } from 'node:net';
import { KmxError } from '@kmx/core';
import type { SftpSession } from '../protocol/session.js';
import { startSession } from './session-start.js';

/**
 * SFTP straight over TCP, no SSH (sshfs's -o directport): for an sftp-server listening on a
 * port of a trusted network, e.g. behind socat or inetd. Nothing is encrypted or authenticated.
 */
export function connectDirect(host: string, port: number, timeoutMs: number): Promise<SftpSession> {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  const { session, started, fail } = startSession(socket, socket, {
    stop: () => socket.destroy(),
    timeoutMs,
    error: (why) => new KmxError(`directport: ${host}:${port} ${why}`, { hint: 'an SFTP server must listen there (sshfs -o directport)' }),
  });
  socket.on('error', (err: Error & { code?: string }) => fail(err.code === 'ECONNREFUSED' ? 'refused the connection' : `failed: ${err.message}`));
  socket.on('close', () => {
    fail('closed the connection before speaking SFTP');
    session.close(`${host}:${port} closed the connection`);
  });
  return started;
}
