import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { KmxError } from '@kmx/core';
import { LocalProc, WHOLE_FILE_LIMIT } from '../proc/local-proc.js';
import { AccessPolicy, agentPath } from './access-policy.js';
import { ProcHostService, type ListReply, type PathRequest, type ProcHostServer, type ReadReply, type StatReply } from './generated/procsys.js';
import { KEEPALIVE_OPTIONS } from './channel-options.js';
import { errorName, toWireAttr } from './wire.js';

export const PROTOCOL_VERSION = 'kmx-procsys/1';

// grpc-js would print its own lines to stderr; kmx reports every failure once, itself.
grpc.setLogVerbosity(grpc.logVerbosity.NONE);
/** Upper bounds on one request, so that a client cannot make an agent buffer without end. */
const MAX_READ = 4 * 1024 * 1024;
const MAX_MANY = 8192;
const MAX_MESSAGE = 64 * 1024 * 1024;

export interface AgentOptions {
  /** host:port; port 0 picks a free one. */
  listen: string;
  credentials: grpc.ServerCredentials;
  writable?: boolean;
  /** The name the agent reports (default: its host name). */
  name?: string;
  proc?: LocalProc;
}

export interface RunningAgent {
  /** host:port actually bound. */
  readonly address: string;
  stop(): Promise<void>;
}

/** btime from /proc/stat: the second the host booted. */
export function bootTime(proc: LocalProc): number {
  const match = /^btime\s+(\d+)/m.exec(proc.readFile('/stat').toString('latin1'));
  return match ? Number(match[1]) : 0;
}

/**
 * The agent's handlers: each answers from this host's /proc synchronously, and reports a
 * failed file operation as an errno name in the reply (a transport error is a gRPC status).
 */
export function agentHandlers(proc: LocalProc, options: { writable: boolean; name: string }): ProcHostServer {
  const policy = new AccessPolicy(proc.root, options.writable);
  const view = (parts: readonly string[]): string => (parts.length === 0 ? '/' : `/${parts.join('/')}`);
  const unary = <Req, Res>(body: (request: Req) => Res, failed: (error: string) => Res): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      let reply: Res;
      try {
        reply = body(call.request);
      } catch (err) {
        reply = failed(errorName(err));
      }
      callback(null, reply);
    };
  const readOne = (path: string, offset: number, length: number): ReadReply => {
    try {
      const parts = agentPath(path);
      policy.forRead(parts);
      const { data, eof } = proc.readRange(view(parts), offset, Math.min(length, MAX_READ));
      return { error: '', data, eof };
    } catch (err) {
      return { error: errorName(err), data: Buffer.alloc(0), eof: true };
    }
  };
  const listOne = (path: string): ListReply => {
    try {
      const parts = agentPath(path);
      policy.forList(parts);
      return { error: '', entries: proc.list(view(parts)).map((e) => ({ name: e.name, attr: e.attr ? toWireAttr(e.attr) : undefined })) };
    } catch (err) {
      return { error: errorName(err), entries: [] };
    }
  };
  return {
    hello: unary(() => ({
      hostname: options.name, version: PROTOCOL_VERSION, bootTime: bootTime(proc), clockTicks: 100, writable: options.writable, nowMs: Date.now(),
    }), () => ({ hostname: options.name, version: PROTOCOL_VERSION, bootTime: 0, clockTicks: 100, writable: false, nowMs: Date.now() })),
    stat: unary<PathRequest, StatReply>((r) => {
      const parts = agentPath(r.path);
      policy.forStat(parts);
      return { error: '', attr: toWireAttr(r.follow ? proc.stat(view(parts)) : proc.lstat(view(parts))) };
    }, (error) => ({ error, attr: undefined })),
    list: unary((r) => listOne(r.path), (error) => ({ error, entries: [] })),
    listMany: unary((r) => ({ lists: r.paths.length > MAX_MANY ? [] : r.paths.map(listOne) }), () => ({ lists: [] })),
    readLink: unary((r) => {
      const parts = agentPath(r.path);
      policy.forReadlink(parts);
      return { error: '', target: proc.readlink(view(parts)) };
    }, (error) => ({ error, target: '' })),
    read: unary((r) => readOne(r.path, r.offset, r.length || WHOLE_FILE_LIMIT), (error) => ({ error, data: Buffer.alloc(0), eof: true })),
    readMany: unary((r) => {
      if (r.paths.length > MAX_MANY) return { files: [] };
      const each = Math.min(r.maxBytesEach || 65536, MAX_READ);
      return { files: r.paths.map((p) => readOne(p, 0, each)) };
    }, () => ({ files: [] })),
    write: unary((r) => {
      const parts = agentPath(r.path);
      policy.forWrite(parts);
      return { error: '', written: proc.writeFile(view(parts), r.offset, r.data) };
    }, (error) => ({ error, written: 0 })),
  };
}

/** Starts an agent serving this host's /proc; resolves once it listens. */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const proc = options.proc ?? new LocalProc();
  const server = new grpc.Server({ ...KEEPALIVE_OPTIONS, 'grpc.max_receive_message_length': 1024 * 1024, 'grpc.max_send_message_length': MAX_MESSAGE });
  server.addService(ProcHostService, agentHandlers(proc, { writable: options.writable === true, name: options.name ?? hostname() }));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, options.credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  }).catch((err: unknown) => {
    server.forceShutdown();
    const message = err instanceof Error ? err.message : String(err);
    const reason = /(EADDRINUSE|EADDRNOTAVAIL|EACCES|ENOTFOUND)[^\]]*/.exec(message)?.[0] ?? message;
    throw new KmxError(`cannot listen on ${options.listen}: ${reason.replace(/^(\w+): /, '$1, ').trim()}`, {
      hint: /in use/i.test(message) ? 'choose another port, or 0 for a free one' : 'check the address: HOST:PORT of an interface of this host',
    });
  });
  const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
  return {
    address: `${host}:${port}`,
    stop: () => new Promise<void>((resolve) => {
      // Calls in flight get a moment; a client that hangs on cannot hold the agent open.
      const timer = setTimeout(() => server.forceShutdown(), 1000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    }),
  };
}

/** The PEM text of a file, with a clear error naming its role. */
export function readPem(path: string, role: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new KmxError(`cannot read the ${role} ${path}: ${(err as { code?: string }).code ?? String(err)}`, { hint: 'create certificates with: kmx procsys certs' });
  }
}
