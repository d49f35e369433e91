import { lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { KmxError, SysError } from '../errors/index.js';
import { close } from '../libc/files.js';
import type { HelperOptions } from '../mount/nshelper.js';
import { DEFAULT_POLICY, type DaemonPolicy } from './config.js';
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
  /** How long a frame may take to arrive whole once its first byte came. */
  frameTimeoutMs: number;
  /** A socket handed over by systemd (LISTEN_FDS), instead of binding socketPath. */
  listenFd?: number;
  helper?: HelperOptions;
  /** Root's limits and allowed NFS servers (config.ts). */
  policy: DaemonPolicy;
  write?: (line: string) => void;
}

export const DEFAULT_DAEMON_OPTIONS: DaemonOptions = {
  socketPath: '/run/kmxd.sock', stateDir: '/run/kmxd', mediaDir: '/run/media', logLevel: 'info',
  maxClientsPerUser: 128, maxClients: 1024, maxInFlight: 4, idleTimeoutMs: 60_000, frameTimeoutMs: 10_000, policy: DEFAULT_POLICY,
};

type Reply = Omit<kmxd.Response.$Properties, 'id'>;

/** How long a refused connection may stay half-closed for its client to read the answer. */
const REFUSED_LINGER_MS = 2000;

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
    this.handlers = new RequestHandlers({ media: this.media, records, log: this.log, helper: options.helper ?? {}, policy: options.policy });
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
    // First of all: a peer that closes before kmxd writes or ends must not turn the write into an
    // unhandled EPIPE or ECONNRESET, which would end kmxd for everyone.
    socket.on('error', (err) => this.log.debug('connection', `socket error: ${err.message}`));
    try {
      this.serve(socket);
    } catch (err) {
      this.log.error('connection', `closed after an unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      socket.destroy();
    }
  }

  /**
   * Answers once and closes: a refused connection, or a broken frame. Only kmxd's side closes
   * at once: a client still writing its request would get EPIPE instead of the answer; one that
   * does not close in turn is cut off a moment later.
   */
  private refuse(socket: Socket, reply: Reply): void {
    socket.end(encodeResponse({ id: 0, ...reply }));
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  }

  private serve(socket: Socket): void {
    let peer: Peer;
    try {
      peer = identify(socket);
    } catch (err) {
      this.log.warn('unknown peer', `refused: ${err instanceof Error ? err.message : String(err)}`);
      this.refuse(socket, errorReply(err));
      return;
    }
    const count = (this.perUser.get(peer.uid) ?? 0) + 1;
    if (count > this.options.maxClientsPerUser) {
      this.log.warn(peer.label, `refused: more than ${this.options.maxClientsPerUser} connections`);
      this.refuse(socket, { error: { errno: 'EAGAIN', message: 'too many connections to kmxd from this user', hint: 'close some and retry' } });
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
    // A frame begun must be complete within this: a byte now and then must not hold a connection.
    let frameTimer: NodeJS.Timeout | undefined;
    const send = (id: number, reply: Reply): void => {
      if (socket.destroyed) return;
      try {
        socket.write(encodeResponse({ id, ...reply }));
      } catch (err) {
        // A reply kmxd cannot encode (too large) is its own failure: say so, keep the connection.
        this.log.error(peer.label, `reply ${id} could not be sent: ${err instanceof Error ? err.message : String(err)}`);
        socket.write(encodeResponse({ id, error: { errno: 'EIO', message: 'kmxd could not encode its reply', hint: 'see the kmxd log' } }));
      }
    };
    const onFrames = (chunk: Buffer): void => {
      const bodies = reader.push(chunk);
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
        this.handlers.handle(peer, request)
          .catch((err: unknown): Reply => {
            this.log.info(peer.label, `${request.body ?? 'request'} refused: ${err instanceof Error ? err.message : String(err)}`);
            return errorReply(err);
          })
          .then((reply) => send(id, reply))
          .catch((err: unknown) => {
            this.log.error(peer.label, `closing the connection after an unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
            socket.destroy();
          })
          .finally(() => inFlight--);
      }
      // The clock runs from a frame's first byte: more bytes of the same frame do not restart it.
      if (bodies.length > 0 || reader.partial === 0) {
        clearTimeout(frameTimer);
        frameTimer = undefined;
      }
      if (reader.partial > 0 && !frameTimer) {
        frameTimer = setTimeout(() => {
          this.log.warn(peer.label, `closing: a frame begun ${this.options.frameTimeoutMs / 1000} s ago is still incomplete`);
          socket.destroy();
        }, this.options.frameTimeoutMs);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        onFrames(chunk);
      } catch (err) {
        if (err instanceof FrameError) {
          this.log.warn(peer.label, `bad frame, closing: ${err.message}`);
          this.refuse(socket, { error: { errno: 'EPROTO', message: err.message, hint: '' } });
        } else {
          this.log.error(peer.label, `closing the connection after an unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
          socket.destroy();
        }
      }
    });
    socket.on('close', () => {
      clearTimeout(frameTimer);
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
