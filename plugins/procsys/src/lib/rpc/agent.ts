import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { KmxError, SysError } from '@kmx/core';
import { LocalProc, WHOLE_FILE_LIMIT } from '../proc/local-proc.js';
import { defaultHostName } from '../cluster/peers.js';
import { agentPath } from './access-policy.js';
import { ProcHostService, type ListReply, type ProcHostServer, type ReadReply } from './generated/procsys.js';
import { KEEPALIVE_OPTIONS } from './channel-options.js';
import { ProcReader, resolveReadAs, type ReaderIdentity } from './reader.js';
import type { RevocationList } from './revocation.js';
import { errorName, readManyReply } from './wire.js';
import type { WritableKeys } from './writable-keys.js';

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
  /** The /proc keys remote clients may write (serve --writable-keys); none without it. */
  writableKeys?: WritableKeys | undefined;
  /** Client certificates refused on every call. */
  revoked?: RevocationList | undefined;
  /** Who reads /proc for clients (default: nobody); ignored when `reader` is given. */
  readAs?: ReaderIdentity;
  /** A reader already started (it is stopped with the agent). */
  reader?: ProcReader;
  /** The name the agent reports (default: its host name). */
  name?: string;
  proc?: LocalProc;
  log?: (line: string) => void;
}

export interface RunningAgent {
  /** host:port actually bound. */
  readonly address: string;
  /** The process that reads /proc for clients. */
  readonly reader: ProcReader;
  stop(): Promise<void>;
}

/** btime from /proc/stat: the second the host booted. */
export function bootTime(proc: LocalProc): number {
  const match = /^btime\s+(\d+)/m.exec(proc.readFile('/stat').toString('latin1'));
  return match ? Number(match[1]) : 0;
}

export interface HandlerOptions {
  name: string;
  /** This host's /proc, for the boot time and the writes the owner allowed. */
  proc: LocalProc;
  writableKeys?: WritableKeys | undefined;
  revoked?: RevocationList | undefined;
}

/**
 * Writes a /proc/sys key the owner listed, as the agent (root: sysctls are root's to write).
 * Opened without following a link in the last component, and only a regular file.
 */
function writeKey(proc: LocalProc, parts: readonly string[], offset: number, data: Buffer): number {
  const fd = fs.openSync(proc.real(`/${parts.join('/')}`), fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
  try {
    if (!fs.fstatSync(fd).isFile()) throw SysError.of('EACCES', 'open', parts.join('/'));
    return fs.writeSync(fd, data, 0, data.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The agent's handlers. Reads, listings, stats and readlinks are the reader's (the reading
 * user's view of /proc); writes go only to listed keys. A failed file operation is an errno
 * name in the reply; a revoked client certificate is refused with PERMISSION_DENIED on every
 * call, its reason in one line.
 */
export function agentHandlers(reader: ProcReader, options: HandlerOptions): ProcHostServer {
  const writable = options.writableKeys !== undefined;
  const unary = <Req, Res>(body: (request: Req) => Promise<Res>, failed: (error: string) => Res): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      const refusal = options.revoked?.refusal(call.getAuthContext?.().sslPeerCertificate, 'on this agent');
      if (refusal) {
        callback({ code: grpc.status.PERMISSION_DENIED, details: refusal }, null);
        return;
      }
      let reply: Promise<Res>;
      try {
        reply = body(call.request);
      } catch (err) {
        reply = Promise.reject(err);
      }
      reply.then((r) => callback(null, r), (err: unknown) => callback(null, failed(errorName(err))));
    };
  const checked = (paths: readonly string[]): string[] => paths.map((p) => agentPath(p).join('/'));
  const noFile = (error: string): ReadReply => ({ error, data: Buffer.alloc(0), eof: true });
  /** Reads several files: paths that are no path inside /proc are answered EINVAL, the others by the reader. */
  const readSome = async (paths: readonly string[], offset: number, length: number): Promise<ReadReply[]> => {
    const valid: string[] = [];
    const replies: Array<ReadReply | undefined> = paths.map((p) => {
      try {
        valid.push(agentPath(p).join('/'));
        return undefined;
      } catch (err) {
        return noFile(errorName(err));
      }
    });
    const read = valid.length > 0 ? await reader.read(valid, offset, Math.min(length, MAX_READ)) : [];
    let next = 0;
    return replies.map((r) => r ?? read[next++]!);
  };
  const listSome = async (paths: readonly string[]): Promise<ListReply[]> => {
    const valid: string[] = [];
    const replies: Array<ListReply | undefined> = paths.map((p) => {
      try {
        valid.push(agentPath(p).join('/'));
        return undefined;
      } catch (err) {
        return { error: errorName(err), entries: [] };
      }
    });
    const lists = valid.length > 0 ? await reader.list(valid) : [];
    let next = 0;
    return replies.map((r) => r ?? lists[next++]!);
  };
  return {
    hello: unary(async () => ({
      hostname: options.name, version: PROTOCOL_VERSION, bootTime: bootTime(options.proc), clockTicks: 100, writable, nowMs: Date.now(),
    }), () => ({ hostname: options.name, version: PROTOCOL_VERSION, bootTime: 0, clockTicks: 100, writable: false, nowMs: Date.now() })),
    stat: unary((r) => reader.stat(checked([r.path])[0]!, r.follow), (error) => ({ error, attr: undefined })),
    list: unary(async (r) => (await listSome([r.path]))[0]!, (error) => ({ error, entries: [] })),
    listMany: unary(async (r) => ({ lists: r.paths.length > MAX_MANY ? [] : await listSome(r.paths) }), () => ({ lists: [] })),
    readLink: unary((r) => reader.readlink(checked([r.path])[0]!), (error) => ({ error, target: '' })),
    read: unary(async (r) => (await readSome([r.path], r.offset, r.length || WHOLE_FILE_LIMIT))[0]!, noFile),
    readMany: unary(async (r) => {
      if (r.paths.length > MAX_MANY) return { files: [], deflated: Buffer.alloc(0) };
      return readManyReply(await readSome(r.paths, 0, Math.min(r.maxBytesEach || 65536, MAX_READ)), r.acceptDeflate);
    }, () => ({ files: [], deflated: Buffer.alloc(0) })),
    write: unary(async (r) => {
      const parts = agentPath(r.path);
      if (!options.writableKeys) throw SysError.of('EROFS', 'open', r.path, { detail: 'the agent was started without --writable-keys' });
      options.writableKeys.check(parts);
      return { error: '', written: writeKey(options.proc, parts, r.offset, r.data) };
    }, (error) => ({ error, written: 0 })),
  };
}

/** Starts an agent serving this host's /proc; resolves once it listens. */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const proc = options.proc ?? new LocalProc();
  const reader = options.reader ?? await ProcReader.start(options.readAs ?? resolveReadAs(), { root: proc.root, ...(options.log ? { log: options.log } : {}) });
  const server = new grpc.Server({ ...KEEPALIVE_OPTIONS, 'grpc.max_receive_message_length': 1024 * 1024, 'grpc.max_send_message_length': MAX_MESSAGE });
  server.addService(ProcHostService, agentHandlers(reader, { name: options.name ?? defaultHostName(), proc, writableKeys: options.writableKeys, revoked: options.revoked }));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, options.credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  }).catch(async (err: unknown) => {
    server.forceShutdown();
    await reader.stop();
    const message = err instanceof Error ? err.message : String(err);
    const reason = /(EADDRINUSE|EADDRNOTAVAIL|EACCES|ENOTFOUND)[^\]]*/.exec(message)?.[0] ?? message;
    throw new KmxError(`cannot listen on ${options.listen}: ${reason.replace(/^(\w+): /, '$1, ').trim()}`, {
      hint: /in use/i.test(message) ? 'choose another port, or 0 for a free one' : 'check the address: HOST:PORT of an interface of this host',
    });
  });
  const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
  return {
    address: `${host}:${port}`,
    reader,
    stop: async () => {
      await new Promise<void>((resolve) => {
        // Calls in flight get a moment; a client that hangs on cannot hold the agent open.
        const timer = setTimeout(() => server.forceShutdown(), 1000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await reader.stop();
    },
  };
}

/** The PEM text of a file, with a clear error naming its role. */
export function readPem(path: string, role: string): Buffer {
  try {
    return fs.readFileSync(path);
  } catch (err) {
    throw new KmxError(`cannot read the ${role} ${path}: ${(err as { code?: string }).code ?? String(err)}`, { hint: 'create certificates with: kmx procsys certs' });
  }
}
