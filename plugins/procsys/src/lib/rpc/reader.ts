import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KmxError, SysError, libc } from '@kmx/core';
import type { LinkReply, ListReply, ReadReply, StatReply } from './generated/procsys.js';
import { FrameReader, frame, unpackList, type ReaderAnswer, type ReaderQuery, type ReaderReady } from './reader-protocol.js';

/**
 * Who the agent reads /proc as: an unprivileged user, by default `nobody`. The agent itself
 * (root, usually) never reads /proc for a client; its reader process does, as this user.
 */
export interface ReaderIdentity {
  uid: number;
  gid: number;
  /** For messages: the user's name, or its number. */
  name: string;
}

export const DEFAULT_READ_AS = 'nobody';
/** A reader that answers nothing for this long is stopped (a read that hangs) and started again. */
const REQUEST_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 20_000;
/** After a reader failed to start, requests fail at once for this long before it is tried again. */
const RESTART_PAUSE_MS = 1_000;
const CHILD = fileURLToPath(new URL('./reader-child.js', import.meta.url));
/** kmx-dirlist as @kmx/core builds it (or $KMX_DIRLIST_LIBRARY, as core reads it; empty: none). */
const DIRLIST = process.env.KMX_DIRLIST_LIBRARY ?? join(dirname(createRequire(import.meta.url).resolve('@kmx/core/package.json')), 'dist', 'native', 'libkmx-dirlist.so');

function groupId(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  const out = spawnSync('getent', ['group', name], { encoding: 'utf8', env: {} });
  const gid = out.status === 0 ? out.stdout.split(':')[2] : undefined;
  return gid && /^\d+$/.test(gid) ? Number(gid) : undefined;
}

/**
 * `--read-as USER[:GROUP]` (names or numbers; the group defaults to the user's primary one).
 * Root is refused: reading as root is what the reader is there to prevent. An agent that is
 * not root cannot switch users, so it may only name itself.
 */
export function resolveReadAs(spec = DEFAULT_READ_AS): ReaderIdentity {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const hint = 'name an unprivileged user that runs no processes of its own (default: nobody)';
  const entry = /^\d+$/.test(userPart) ? libc.userById(Number(userPart)) : libc.userByName(userPart);
  const uid = entry?.uid ?? (/^\d+$/.test(userPart) ? Number(userPart) : undefined);
  if (uid === undefined) throw new KmxError(`--read-as: no user "${userPart}" on this host`, { hint, exitCode: 2 });
  const gid = groupPart === undefined ? entry?.gid : groupId(groupPart);
  if (gid === undefined) throw new KmxError(`--read-as: ${groupPart === undefined ? `user ${userPart} has no primary group here` : `no group "${groupPart}" on this host`}`, { hint, exitCode: 2 });
  if (uid === 0 || gid === 0) throw new KmxError('--read-as: the agent never reads /proc as root or the root group', { hint, exitCode: 2 });
  const self = process.getuid!();
  if (self !== 0 && uid !== self) {
    throw new KmxError(`reading /proc as ${spec} needs root: the agent runs as uid ${self}`, { hint: `run kmx procsys serve as root, or pass --read-as ${libc.userById(self)?.name ?? self} to serve what you can read` });
  }
  return { uid, gid: self === 0 ? gid : process.getgid!(), name: entry?.name ?? String(uid) };
}

/**
 * Marks every fd of this process from 3 on close-on-exec, so that the reader inherits none of
 * them (a FUSE session fd of `mount --serve`, a socket, a key file some caller left open): it
 * then holds nothing but its pipes. Node opens its own fds close-on-exec already.
 */
function closeOnExecAll(): void {
  const lib = libc.koffi().load('libc.so.6');
  const CLOSE_RANGE_CLOEXEC = 4;
  if (Number(lib.func('int close_range(unsigned int first, unsigned int last, int flags)')(3, 0xffffffff, CLOSE_RANGE_CLOEXEC)) === 0) return;
  // Kernels before 5.11: one fcntl per fd.
  const fcntl = lib.func('int fcntl(int fd, int cmd, int arg)');
  const F_GETFD = 1;
  const F_SETFD = 2;
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd < 3) continue;
    const flags = Number(fcntl(fd, F_GETFD, 0));
    if (flags >= 0 && !(flags & 1)) fcntl(fd, F_SETFD, flags | 1);
  }
}

interface Pending {
  resolve(answer: ReaderAnswer): void;
  reject(err: Error): void;
}

interface Running {
  child: ChildProcess;
  pending: Map<number, Pending>;
  /** The oldest request without an answer, by when it was sent: a hung reader is stopped. */
  watchdog: NodeJS.Timeout | undefined;
}

/**
 * The agent's side of its reader (reader-child.ts): requests go down a pipe and are answered
 * in order. One process answers every client; batches (ReadMany, ListMany) travel as one
 * message each way. A reader that dies or hangs is replaced on the next request; requests it
 * held fail with EIO.
 */
export class ProcReader {
  private running: Running | undefined;
  private starting: Promise<Running> | undefined;
  private failedAt = 0;
  private lastFailure = '';
  private nextId = 1;
  private stopped = false;

  private constructor(readonly root: string, readonly identity: ReaderIdentity, private readonly log: (line: string) => void) {}

  /** Starts the reader; rejects with one line when it cannot run as `identity`. */
  static async start(identity: ReaderIdentity, options: { root?: string; log?: (line: string) => void } = {}): Promise<ProcReader> {
    const reader = new ProcReader(options.root ?? '/proc', identity, options.log ?? (() => undefined));
    try {
      await reader.ensure();
    } catch (err) {
      throw new KmxError(`cannot read /proc as ${identity.name}: ${err instanceof Error ? err.message : String(err)}`, {
        hint: 'the reader runs this kmx installation as that user: its files must be readable by it',
      });
    }
    return reader;
  }

  /** The reader's pid (while one runs). */
  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  private ensure(): Promise<Running> {
    if (this.running) return Promise.resolve(this.running);
    if (this.stopped) return Promise.reject(SysError.of('EIO', 'read', undefined, { detail: 'the agent is stopping' }));
    if (Date.now() - this.failedAt < RESTART_PAUSE_MS) return Promise.reject(SysError.of('EIO', 'read', undefined, { detail: this.lastFailure }));
    this.starting ??= this.spawn().then((running) => {
      this.starting = undefined;
      this.running = running;
      return running;
    }, (err: unknown) => {
      this.starting = undefined;
      this.failedAt = Date.now();
      this.lastFailure = err instanceof Error ? err.message : String(err);
      throw err;
    });
    return this.starting;
  }

  private spawn(): Promise<Running> {
    closeOnExecAll();
    const root = process.getuid!() === 0;
    // Without root the reader keeps this user's groups: it cannot drop them.
    const groups = root ? 'none' : 'kept';
    const child = spawn(process.execPath, [CHILD, this.root, String(this.identity.uid), String(this.identity.gid), String(process.pid), groups, DIRLIST], {
      // As root, libuv drops the supplementary groups, then sets the gid and the uid.
      ...(root ? { uid: this.identity.uid, gid: this.identity.gid } : {}),
      // Its own session (setsid): no controlling terminal of the agent's.
      env: {}, cwd: '/', stdio: ['pipe', 'pipe', 'pipe'], detached: true,
    });
    const running: Running = { child, pending: new Map(), watchdog: undefined };
    let stderr = '';
    child.stdin!.on('error', () => undefined); // a reader that died: its exit fails what was pending
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    return new Promise<Running>((resolve, reject) => {
      let ready = false;
      const startTimer = setTimeout(() => {
        if (!ready) child.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      const frames = new FrameReader((message) => {
        if (!ready) {
          const hello = message as ReaderReady;
          if (hello.ready !== true || hello.uid !== this.identity.uid || hello.gid !== this.identity.gid) {
            child.kill('SIGKILL');
            return;
          }
          ready = true;
          clearTimeout(startTimer);
          resolve(running);
          return;
        }
        const answer = message as ReaderAnswer;
        const waiting = running.pending.get(answer.id);
        if (!waiting) return;
        running.pending.delete(answer.id);
        this.rearm(running);
        waiting.resolve(answer);
      });
      child.stdout!.on('data', (chunk: Buffer) => {
        try {
          frames.push(chunk);
        } catch {
          child.kill('SIGKILL');
        }
      });
      child.once('error', (err) => {
        clearTimeout(startTimer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(startTimer);
        if (running.watchdog) clearTimeout(running.watchdog);
        if (this.running === running) this.running = undefined;
        const why = stderr.trim().split('\n').pop() || (signal ? `killed by ${signal}` : `exit status ${code}`);
        if (!ready) {
          reject(new Error(`its reader exited: ${why}`));
          return;
        }
        if (!this.stopped) this.log(`the reader (pid ${child.pid}, as ${this.identity.name}) stopped: ${why}; starting another on the next request`);
        for (const waiting of running.pending.values()) waiting.reject(SysError.of('EIO', 'read', undefined, { detail: `the reader stopped: ${why}` }));
        running.pending.clear();
      });
    });
  }

  /** Restarts the watchdog for the oldest request still waiting. */
  private rearm(running: Running): void {
    if (running.watchdog) clearTimeout(running.watchdog);
    running.watchdog = undefined;
    if (running.pending.size === 0) return;
    running.watchdog = setTimeout(() => {
      this.log(`the reader (pid ${running.child.pid}) answered nothing for ${REQUEST_TIMEOUT_MS / 1000} s; stopping it`);
      running.child.kill('SIGKILL');
    }, REQUEST_TIMEOUT_MS);
    running.watchdog.unref();
  }

  private async ask(request: ReaderQuery): Promise<ReaderAnswer> {
    const running = await this.ensure();
    const id = this.nextId++;
    return new Promise<ReaderAnswer>((resolve, reject) => {
      running.pending.set(id, { resolve, reject });
      if (running.pending.size === 1) this.rearm(running);
      running.child.stdin!.write(frame({ ...request, id }));
    }).then((answer) => {
      if ('failed' in answer) throw SysError.of('EIO', 'read', undefined, { detail: `the reader failed: ${answer.failed}` });
      return answer;
    });
  }

  async stat(path: string, follow: boolean): Promise<StatReply> {
    const answer = await this.ask({ op: 'stat', path, follow });
    return 'stat' in answer ? answer.stat : protocolError();
  }

  async list(paths: string[]): Promise<ListReply[]> {
    const answer = await this.ask({ op: 'list', paths });
    if (!('lists' in answer) || answer.lists.length !== paths.length) return protocolError();
    try {
      return answer.lists.map(unpackList);
    } catch {
      return protocolError();
    }
  }

  async readlink(path: string): Promise<LinkReply> {
    const answer = await this.ask({ op: 'readlink', path });
    return 'link' in answer ? answer.link : protocolError();
  }

  async read(paths: string[], offset: number, length: number): Promise<ReadReply[]> {
    const answer = await this.ask({ op: 'read', paths, offset, length });
    if (!('files' in answer) || answer.files.length !== paths.length) return protocolError();
    // V8 hands back Buffers; a reader that sent something else is not trusted with it.
    for (const file of answer.files) if (!Buffer.isBuffer(file.data)) return protocolError();
    return answer.files;
  }

  /** Stops the reader (its pipe closes; SIGKILL by pid after a second) and waits for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = this.running ?? (await this.starting?.catch(() => undefined));
    if (!running) return;
    const { child } = running;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
    await exited;
    clearTimeout(timer);
  }
}

function protocolError(): never {
  throw SysError.of('EPROTO', 'read', undefined, { detail: 'the reader answered out of turn' });
}
