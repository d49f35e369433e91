import { KmxError } from '@kmx/core';
import { sftpOverStream } from '../protocol/adapter.js';
import { SftpSession } from '../protocol/session.js';
import { openSftpChannel, type SshOptions, type SshSecrets } from './connect.js';

/**
 * An SFTP session over SSH, on this thread. (A worker thread for the SSH side was measured:
 * the same throughput for twice the CPU, spent on postMessage and garbage collection, and two
 * more thread hops per round trip.)
 */
export async function connectSsh(options: SshOptions, secrets: SshSecrets, log: (line: string) => void): Promise<SftpSession> {
  const ssh = await openSftpChannel(options, secrets, log);
  const { sftp } = sftpOverStream(ssh.channel, ssh.channel, { carrier: ssh.carrier });
  const session = new SftpSession(sftp, () => ssh.close());
  ssh.onClose((reason) => session.close(reason));
  await new Promise<void>((resolve, reject) => {
    sftp.once('ready', () => resolve());
    sftp.once('error', (err: Error) => {
      ssh.close();
      reject(new KmxError(`${options.alias}'s SFTP service failed: ${err.message}`));
    });
    ssh.onClose((reason) => reject(new KmxError(`${options.alias} closed the connection before SFTP started: ${reason}`)));
  });
  return session;
}
