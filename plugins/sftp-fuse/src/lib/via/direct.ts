import { connect } from 'node:net';
import { KmxError } from '@kmx/core';
import { sftpOverStream } from '../protocol/adapter.js';
import { SftpSession } from '../protocol/session.js';

/**
 * SFTP straight over TCP, no SSH (sshfs's -o directport): for an sftp-server listening on a
 * port of a trusted network, e.g. behind socat or inetd. Nothing is encrypted or authenticated.
 */
export function connectDirect(host: string, port: number, timeoutMs: number): Promise<SftpSession> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    let settled = false;
    const { sftp } = sftpOverStream(socket, socket, { carrier: socket });
    const session = new SftpSession(sftp, () => socket.destroy());
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new KmxError(`directport: ${host}:${port} ${why}`, { hint: 'an SFTP server must listen there (sshfs -o directport)' }));
    };
    const timer = setTimeout(() => fail(`did not start an SFTP session within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    socket.on('error', (err: Error & { code?: string }) => fail(err.code === 'ECONNREFUSED' ? 'refused the connection' : `failed: ${err.message}`));
    socket.on('close', () => {
      fail('closed the connection before speaking SFTP');
      session.close(`${host}:${port} closed the connection`);
    });
    sftp.once('ready', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(session);
    });
    sftp.on('error', (err: Error) => fail(`does not speak SFTP (${err.message})`));
  });
}
