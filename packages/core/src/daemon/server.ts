import { lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { KmxError, SysError } from '../errors/index.js';
import { close } from '../libc/files.js';
import type { HelperOptions } from '../mount/nshelper.js';
import { RequestHandlers } from './handlers.js';
import { createLog, type DaemonLog, type LogLevel } from './log.js';
import { MediaRoot } from './media.js';
import { identify, type Peer } from './peer.js';
import { decodeRequest, encodeResponse, FrameError, FrameReader, PROTOCOL_VERSION, type kmxd } from './protocol.js';
import { MountRecords } from './records.js';

export interface DaemonOptions {
  socketPath: string;
  stateDir: string;
  mediaDir: string;
  logLevel: LogLevel;
  /** Connections one uid may hold at once; more are refused with EAGAIN. */
  maxClientsPerUser: number;
  maxClients: number;
  /** Requests one connection may have in flight; more are answered EBUSY. */
  maxInFlight: number;
  idleTimeoutMs: number;
  /** A socket handed over by systemd (LISTEN_FDS), instead of binding socketPath. */
  listenFd?: number;
  helper?: HelperOptions;
  write?: (line: string) => void;
}

export const DEFAULT_DAEMON_OPTIONS: DaemonOptions = {
  socketPath: '/run/kmxd.sock', stateDir: '/run/kmxd', mediaDir: '/run/media', logLevel: 'info',
  maxClientsPerUser: 128, maxClients: 1024, maxInFlight: 4, idleTimeoutMs: 60_000,
};

type Reply = Omit<kmxd.Response.$Properties, 'id'>;

function errorReply(err: unknown): Reply {
  if (err instanceof KmxError) {
    const code = err instanceof SysError ? err.code : '';
    return { error: { errno: code, message: err.message, hint: err.hint ?? '' } };
  }
  return { error: { errno: 'EIO', message: `internal error: ${err instanceof Error ? err.message : String(err)}`, hint: 'see the kmxd log' } };
}

/** Refuses to take over a socket path unless what is there is a stale root-owned socket. */
async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket() || st.uid !== 0) throw new KmxError(`${path} exists and is not a socket of root's`, { hint: 'remove it, or choose another --socket' });
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new KmxError(`another kmxd is already listening on ${path}`);
  unlinkSync(path);
}

/**
 * kmxd: the root daemon behind `kmx nfs mount`. Accepts anyone on its UNIX socket, takes
 * identity from the kernel alone, and answers framed protobuf requests one handler each.
 */
export class Kmxd {
  private server: Server | undefined;
  private readonly perUser = new Map<number, number>();
  private connections = 0;
  private readonly sockets = new Set<Socket>();
  readonly log: DaemonLog;
  private readonly media: MediaRoot;
  private readonly handlers: RequestHandlers;

  constructor(private readonly options: DaemonOptions) {
    this.log = createLog(options.logLevel, options.write);
    this.media = new MediaRoot(options.mediaDir);
    const records = new MountRecords(options.stateDir);
    this.handlers = new RequestHandlers({ media: this.media, records, log: this.log, helper: options.helper ?? {} });
  }

  async start(): Promise<void> {
    this.media.open();
    const server = createServer({ allowHalfOpen: false }, (socket) => this.accept(socket));
    server.maxConnections = this.options.maxClients;
    this.server = server;
    if (this.options.listenFd !== undefined) {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ fd: this.options.listenFd }, resolve));
      this.log.info('kmxd', `listening on the socket systemd passed (fd ${this.options.listenFd})`);
      return;
    }
    await clearStaleSocket(this.options.socketPath);
    // The socket is created with its final mode (0666): never bound first and chmod'ed later.
    const umask = process.umask(0o111);
    try {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.options.socketPath, resolve));
    } finally {
      process.umask(umask);
    }
    this.log.info('kmxd', `listening on ${this.options.socketPath}`);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.media.close();
    this.log.info('kmxd', 'stopped');
  }

  private accept(socket: Socket): void {
    let peer: Peer;
    try {
      peer = identify(socket);
    } catch (err) {
      this.log.warn('unknown peer', `refused: ${err instanceof Error ? err.message : String(err)}`);
      socket.end(encodeResponse({ id: 0, ...errorReply(err) }));
      return;
    }
    const count = (this.perUser.get(peer.uid) ?? 0) + 1;
    if (count > this.options.maxClientsPerUser) {
      this.log.warn(peer.label, `refused: more than ${this.options.maxClientsPerUser} connections`);
      socket.end(encodeResponse({ id: 0, error: { errno: 'EAGAIN', message: 'too many connections to kmxd from this user', hint: 'close some and retry' } }));
      close(peer.pidfd);
      return;
    }
    this.perUser.set(peer.uid, count);
    this.connections++;
    this.sockets.add(socket);
    this.log.debug(peer.label, 'connected');
    socket.setTimeout(this.options.idleTimeoutMs, () => {
      this.log.debug(peer.label, 'idle: closing');
      socket.destroy();
    });
    const reader = new FrameReader();
    let inFlight = 0;
    const send = (id: number, reply: Reply): void => {
      if (!socket.destroyed) socket.write(encodeResponse({ id, ...reply }));
    };
    socket.on('data', (chunk: Buffer) => {
      let bodies: Buffer[];
      try {
        bodies = reader.push(chunk);
        for (const body of bodies) {
          const request = decodeRequest(body);
          const id = request.id ?? 0;
          if (request.version !== PROTOCOL_VERSION) {
            send(id, { error: { errno: 'EPROTO', message: `protocol version ${request.version ?? 0} is not ${PROTOCOL_VERSION}`, hint: 'use a kmx of the same version as kmxd' } });
            continue;
          }
          if (inFlight >= this.options.maxInFlight) {
            send(id, { error: { errno: 'EBUSY', message: `more than ${this.options.maxInFlight} requests in flight on one connection`, hint: 'wait for answers first' } });
            continue;
          }
          inFlight++;
          this.handlers.handle(peer, request).then(
            (reply) => send(id, reply),
            (err: unknown) => {
              this.log.info(peer.label, `${request.body ?? 'request'} refused: ${err instanceof Error ? err.message : String(err)}`);
              send(id, errorReply(err));
            },
          ).finally(() => inFlight--);
        }
      } catch (err) {
        const message = err instanceof FrameError ? err.message : String(err);
        this.log.warn(peer.label, `bad frame, closing: ${message}`);
        socket.end(encodeResponse({ id: 0, error: { errno: 'EPROTO', message, hint: '' } }));
        socket.destroySoon();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.connections--;
      const left = (this.perUser.get(peer.uid) ?? 1) - 1;
      if (left === 0) this.perUser.delete(peer.uid);
      else this.perUser.set(peer.uid, left);
      close(peer.pidfd);
      this.log.debug(peer.label, 'disconnected');
    });
  }
}
