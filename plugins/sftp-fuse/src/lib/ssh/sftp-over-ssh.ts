import { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { KmxError } from '@kmx/core';
import { sftpOverStream } from '../protocol/adapter.js';
import { SftpSession } from '../protocol/session.js';
import { AuthenticationFailed, type SshOptions, type SshSecrets } from './connect.js';
import { BytePoster, type FromWorker, type ToWorker } from './thread-bytes.js';

const WORKER = new URL('./ssh-worker.js', import.meta.url);

/**
 * An SFTP session over SSH. The SSH side (ssh2's Client: handshake, crypto, framing) runs
 * in a worker thread so that it uses the second core while this thread serves FUSE; the SFTP
 * side runs here, over the channel's bytes.
 */
export function connectSsh(options: SshOptions, secrets: SshSecrets, log: (line: string) => void): Promise<SftpSession> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { options, secrets } });
    worker.unref();
    let settled = false;
    const toWorker = new BytePoster((bytes) => worker.postMessage({ type: 'data', bytes } satisfies ToWorker, [bytes]));
    const stream = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        toWorker.push(chunk);
        callback();
      },
      final(callback) {
        worker.postMessage({ type: 'close' } satisfies ToWorker);
        callback();
      },
    });
    const close = (): void => {
      toWorker.flush();
      worker.postMessage({ type: 'close' } satisfies ToWorker);
      // A worker that does not end by itself (a wedged connection) is stopped.
      setTimeout(() => void worker.terminate(), 2000).unref();
    };
    let session: SftpSession | undefined;
    worker.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'data':
          stream.push(Buffer.from(message.bytes));
          break;
        case 'log':
          log(message.line);
          break;
        case 'ready': {
          const { sftp } = sftpOverStream(stream, stream);
          session = new SftpSession(sftp, close);
          sftp.once('ready', () => {
            settled = true;
            resolve(session!);
          });
          sftp.once('error', (err: Error) => {
            if (settled) return;
            settled = true;
            close();
            reject(new KmxError(`${options.alias}'s SFTP service failed: ${err.message}`));
          });
          break;
        }
        case 'failed':
          settled = true;
          reject(message.name === 'AuthenticationFailed'
            ? new AuthenticationFailed(message.message, message.hint, message.passwordOffered === true)
            : new KmxError(message.message, message.hint ? { hint: message.hint } : {}));
          break;
        case 'closed':
          stream.push(null);
          session?.close(message.reason);
          if (!settled) {
            settled = true;
            reject(new KmxError(`${options.alias} closed the connection before SFTP started: ${message.reason}`));
          }
          break;
      }
    });
    worker.on('error', (err) => {
      session?.close(`SSH worker failed: ${err.message}`);
      if (!settled) {
        settled = true;
        reject(new KmxError(`the SSH connection to ${options.alias} failed: ${err.message}`));
      }
    });
    worker.on('exit', () => {
      stream.push(null);
      session?.close('the SSH connection ended');
    });
  });
}
