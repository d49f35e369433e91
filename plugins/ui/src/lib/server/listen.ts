import { lstat, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Server } from 'node:net';
import { KmxError, SysError } from '@kmx/core';
import type { Listening } from '../security/guard.js';

/** Loopback TCP (port 0: any free one), or a UNIX socket at a path. */
export type ListenTarget = { port: number } | { socket: string };

/**
 * Listens on 127.0.0.1 only, or on a UNIX socket created 0600 (the umask is narrowed around
 * the bind, so the socket never exists with a wider mode). A socket left over by an earlier
 * server of this user is replaced; anything else at the path is refused.
 */
export async function listenOn(server: Server, target: ListenTarget): Promise<Listening> {
  if ('port' in target) {
    await bind(server, () => server.listen({ host: '127.0.0.1', port: target.port, exclusive: true }), `127.0.0.1:${target.port}`);
    const address = server.address();
    if (address === null || typeof address === 'string') throw new KmxError('the server has no TCP address');
    return { kind: 'tcp', port: address.port };
  }
  await clearStaleSocket(target.socket);
  const previous = process.umask(0o177);
  try {
    await bind(server, () => server.listen({ path: target.socket, exclusive: true }), target.socket);
  } finally {
    process.umask(previous);
  }
  return { kind: 'unix', path: target.socket };
}

async function clearStaleSocket(path: string): Promise<void> {
  // libuv reports a missing directory as EACCES when binding a UNIX socket: look first.
  const parent = await stat(dirname(path)).catch((err: NodeJS.ErrnoException) => err);
  if (parent instanceof Error) throw SysError.of(parent.code ?? 'ENOENT', 'bind', path);
  if (!parent.isDirectory()) throw SysError.of('ENOTDIR', 'bind', path);
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined) return;
  if (!info.isSocket() || info.uid !== (process.getuid?.() ?? 0)) {
    throw new KmxError(`${path} exists and is not a socket of yours`, { hint: 'choose another --socket path' });
  }
  await rm(path);
}

function bind(server: Server, start: () => void, where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') reject(new KmxError(`${where} is in use`, { hint: 'choose another --port, or 0 for any free one' }));
      else if (typeof err.errno === 'number' && err.code) reject(SysError.of(err.code, 'bind', where));
      else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    start();
  });
}
