// The SSH connection of one SFTP session, in a worker thread: handshake, encryption and
// SSH framing run beside the main thread, which serves FUSE and speaks SFTP. Only the
// "sftp" channel's bytes cross between the two.
import { parentPort, workerData } from 'node:worker_threads';
import { KmxError } from '@kmx/core';
import { AuthenticationFailed, openSftpChannel, type SshOptions, type SshSecrets } from './connect.js';
import { BytePoster, type FromWorker, type ToWorker } from './thread-bytes.js';

const port = parentPort!;
const { options, secrets } = workerData as { options: SshOptions; secrets: SshSecrets };
const send = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

try {
  const ssh = await openSftpChannel(options, secrets, (line) => send({ type: 'log', line }));
  const toMain = new BytePoster((bytes) => send({ type: 'data', bytes }, [bytes]));
  ssh.channel.on('data', (chunk: Buffer) => toMain.push(chunk));
  ssh.onClose((reason) => {
    toMain.flush();
    send({ type: 'closed', reason });
    port.close();
  });
  ssh.channel.on('close', () => ssh.close());
  port.on('message', (message: ToWorker) => {
    if (message.type === 'data') ssh.channel.write(Buffer.from(message.bytes));
    else ssh.close();
  });
  send({ type: 'ready' });
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  send({
    type: 'failed',
    name: e.name,
    message: e.message,
    ...(e instanceof KmxError && e.hint ? { hint: e.hint } : {}),
    ...(e instanceof AuthenticationFailed ? { passwordOffered: e.passwordOffered } : {}),
  });
  port.close();
}
