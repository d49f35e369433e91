import { createConnection, type Socket } from 'node:net';
import { KmxError } from '../errors/index.js';
import { decodeResponse, encodeRequest, FrameReader, PROTOCOL_VERSION, type kmxd, type Response } from './protocol.js';

/** The default socket of kmxd; $KMXD_SOCKET overrides it for clients (tests, a second daemon). */
export const KMXD_SOCKET = '/run/kmxd.sock';

export function kmxdSocketPath(): string {
  return process.env.KMXD_SOCKET || KMXD_SOCKET;
}

/** A refusal from kmxd: its errno name (EPERM, EEXIST, …) and its one-line message. */
export class DaemonError extends KmxError {
  readonly code: string;

  constructor(code: string, message: string, hint?: string) {
    super(message, { hint: hint || undefined });
    this.name = 'DaemonError';
    this.code = code;
  }
}

/** kmxd is not there at all (no socket, nobody listening): the cue for user-space fallbacks. */
export class DaemonUnavailableError extends KmxError {
  constructor(path: string, reason: string) {
    super(`kmxd is not running (${path}: ${reason})`, { hint: 'start it as root (kmxd --help), or mount in user space with --userspace' });
    this.name = 'DaemonUnavailableError';
  }
}

type Body = Omit<kmxd.Request.$Properties, 'version' | 'id'>;

const CONNECT_TIMEOUT_MS = 5_000;

/** One connection to kmxd; requests are answered in any order, matched by id. */
export class KmxdClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Response) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly reader = new FrameReader();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const body of this.reader.push(chunk)) this.deliver(decodeResponse(body));
      } catch (err) {
        this.failAll(new KmxError(`bad answer from kmxd: ${err instanceof Error ? err.message : String(err)}`));
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.failAll(new KmxError(`connection to kmxd failed: ${err.message}`)));
    socket.on('close', () => this.failAll(new KmxError('kmxd closed the connection')));
  }

  static connect(path: string = kmxdSocketPath()): Promise<KmxdClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new DaemonUnavailableError(path, 'no answer'));
      }, CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new KmxdClient(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const reason = err.code === 'ENOENT' ? 'no such socket' : err.code === 'ECONNREFUSED' ? 'nobody listens' : err.code ?? err.message;
        reject(new DaemonUnavailableError(path, reason));
      });
    });
  }

  /** Sends one request; resolves with kmxd's answer, or rejects with a DaemonError for a refusal. */
  request(body: Body, timeoutMs = 90_000): Promise<Response> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new KmxError(`kmxd did not answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.socket.write(encodeRequest({ version: PROTOCOL_VERSION, id, ...body }));
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private deliver(response: Response): void {
    const id = response.id ?? 0;
    if (id === 0 && response.error) {
      // Not about one request: the daemon refused the connection itself.
      this.failAll(new DaemonError(response.error.errno ?? '', response.error.message ?? 'refused', response.error.hint ?? undefined));
      return;
    }
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    clearTimeout(waiter.timer);
    if (response.error) waiter.reject(new DaemonError(response.error.errno ?? '', response.error.message ?? 'refused', response.error.hint ?? undefined));
    else waiter.resolve(response);
  }

  private failAll(err: Error): void {
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
      this.waiting.delete(id);
    }
  }
}

/** Connects, sends one request, and closes. */
export async function requestKmxd(body: Body, options: { socketPath?: string; timeoutMs?: number } = {}): Promise<Response> {
  const client = await KmxdClient.connect(options.socketPath);
  try {
    return await client.request(body, options.timeoutMs);
  } finally {
    client.close();
  }
}
