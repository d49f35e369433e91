import { Worker } from 'node:worker_threads';
import { KmxError, SysError, errnoName } from '@kmx/core';
import type { ConnectionSetup, Hello, OperationName, Operations, Reply, Request } from './protocol.js';

// The main thread's side of the SMB connections: each is a worker thread owning one
// libsmbclient context (worker.ts). Calls are queued per connection and answered by promises;
// nothing here blocks the event loop.

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  op: OperationName;
  subject: string;
}

const ECONNREFUSED = 111;

/** One worker, one context, one request at a time on the wire (the worker queues the rest). */
export class SmbConnection {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ended = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new SysError(reply.errno, `smb ${p.op}`, p.subject));
    });
    const fail = (): void => {
      this.ended = true;
      for (const p of this.pending.values()) p.reject(new SysError(5, `smb ${p.op}`, p.subject));
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
  }

  /** Starts a worker and waits until it has connected to the share (or says why it could not). */
  static async open(setup: ConnectionSetup): Promise<SmbConnection> {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: setup });
    worker.unref();
    const hello = await new Promise<Hello>((resolve, reject) => {
      worker.once('message', resolve);
      // What the thread threw at start (libsmbclient missing, say) arrives as a plain Error: say it as kmx's one line.
      worker.once('error', (err) => reject(new KmxError(err instanceof Error ? err.message : String(err))));
      worker.once('exit', (code) => reject(new KmxError(`the SMB connection's thread exited (${code})`)));
    });
    if (!hello.ready) {
      await worker.terminate();
      throw connectError(setup, hello.errno);
    }
    return new SmbConnection(worker);
  }

  /** How many requests wait on this connection. */
  get load(): number {
    return this.pending.size;
  }

  call<K extends OperationName>(op: K, ...args: Operations[K]['args']): Promise<Operations[K]['result']> {
    if (this.ended) return Promise.reject(new SysError(5, `smb ${op}`));
    const id = this.nextId++;
    const subject = typeof args[0] === 'string' ? args[0] : '';
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, op, subject });
      const transfer = args.filter((a): a is Uint8Array => a instanceof Uint8Array).map((a) => a.buffer as ArrayBuffer);
      this.worker.postMessage({ id, op, args } satisfies Request<K>, transfer);
    });
  }

  async close(): Promise<void> {
    if (!this.ended) await this.call('shutdown').catch(() => undefined);
    await this.worker.terminate();
  }
}

/** Why connecting failed, in the user's words (one line). */
function connectError(setup: ConnectionSetup, errno: number): KmxError {
  const where = `//${setup.server}/${setup.share}${setup.port !== 445 ? ` (port ${setup.port})` : ''}`;
  const code = errnoName(errno);
  if (code === 'EACCES' || code === 'EPERM') return new KmxError(`${where}: access denied for ${setup.domain ? `${setup.domain}\\` : ''}${setup.user || 'this user'} (wrong user name or password, or no access to the share)`, { hint: 'check the user name, password and --domain', exitCode: 13 });
  if (code === 'ENOENT' || code === 'ENODEV') return new KmxError(`${where}: no such share on the server`, { hint: 'smbclient -L //SERVER lists the shares', exitCode: 2 });
  if (errno === ECONNREFUSED || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT') return new KmxError(`${where}: the server does not answer (${code})`, { hint: 'check the server name and port', exitCode: 1 });
  return new KmxError(`${where}: cannot connect: ${new SysError(errno, 'connect').message.replace(/^connect: /, '')}`, { exitCode: 1 });
}

/**
 * The connections to one share: path requests go to the least busy one; an open file stays on
 * the connection that opened it. One by default, and more only in separate processes some day:
 * Samba 4.17 keeps its talloc stack frames in a process-wide global, so two threads inside
 * libsmbclient at once abort the process ("Freed frame …, expected …", seen with two workers).
 */
export class SmbClient {
  private constructor(readonly connections: readonly SmbConnection[]) {}

  static async connect(setup: ConnectionSetup, count = 1): Promise<SmbClient> {
    const first = await SmbConnection.open(setup); // fails alone, clearly, before more are made
    const rest = await Promise.allSettled(Array.from({ length: count - 1 }, () => SmbConnection.open(setup)));
    const more = rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    return new SmbClient([first, ...more]);
  }

  /** The least busy connection. */
  pick(): SmbConnection {
    let best = this.connections[0]!;
    for (const c of this.connections) if (c.load < best.load) best = c;
    return best;
  }

  call<K extends OperationName>(op: K, ...args: Operations[K]['args']): Promise<Operations[K]['result']> {
    return this.pick().call(op, ...args);
  }

  /** Every connection forgets its server: the next call connects afresh. */
  async reconnect(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.call('reconnect').catch(() => undefined)));
  }

  async close(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.close()));
  }
}
