import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readMountinfo } from '../mount/mountinfo.js';
import { readMountRecords } from '../mount/registry.js';
import { kmxBin } from './processes.js';
import { temporaryDirectory } from './temp.js';

export interface TestMountOptions {
  /** kmx's arguments, given the temporary directory and the mountpoint inside it. */
  args: (paths: { dir: string; mnt: string }) => string[];
  /** The program to run instead of kmx (`args` are then its arguments): a test fixture server. */
  program?: string;
  /** Called before kmx starts, to fill the temporary directory (a source tree, say). */
  prepare?: (paths: { dir: string; mnt: string }) => Promise<void>;
  env?: NodeJS.ProcessEnv;
  /** How long the mount may take to appear (default 15 s). */
  readyTimeoutMs?: number;
  /** Run the server as this uid/gid instead of the test's own. */
  uid?: number;
  gid?: number;
}

export interface TestMount {
  /** The temporary directory; removed at the end. */
  readonly dir: string;
  readonly mnt: string;
  readonly server: ChildProcess;
  /** What the server printed so far (stdout and stderr). */
  output(): string;
  /**
   * Sends `signal` (SIGTERM by default; SIGKILL after 10 s) and waits; resolves to the server's
   * exit code or signal. Stopped by SIGTERM, the server must unmount and exit 0.
   */
  stop(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
}

/** What a server's output must never hold: kmx's report of its own bug, or a stack trace. */
const SERVER_FAULT = /this is a bug in kmx|^\s+at .+:\d+:\d+\)?$/m;

/**
 * After a test passed: the server told of no bug of its own, and a server stopped with SIGTERM
 * (or that ended by itself, after an unmount) exited 0.
 */
function checkServer(status: number | NodeJS.Signals | null, signalled: NodeJS.Signals | undefined, output: string): void {
  const fault = SERVER_FAULT.exec(output);
  if (fault) throw new Error(`the server reported a fault of its own ("${fault[0].trim()}"):\n${output}`);
  if ((signalled === undefined || signalled === 'SIGTERM') && status !== 0) {
    throw new Error(`the server exited with ${String(status)} instead of 0${signalled ? ' on SIGTERM' : ''}:\n${output}`);
  }
}

async function mountedAt(mnt: string): Promise<boolean> {
  return (await readMountinfo()).some((m) => m.mountpoint === mnt);
}

/** Where a server that does not exit stands: still mounted or not, and what each thread waits in. */
async function hangDiagnosis(pid: number | undefined, mnt: string): Promise<string> {
  const threads = await readdir(`/proc/${pid}/task`).catch(() => []);
  const waits = await Promise.all(threads.map(async (tid) => {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    const wchan = await readFile(`/proc/${pid}/task/${tid}/wchan`, 'utf8').catch(() => '?');
    return `${/\) (\S)/.exec(stat)?.[1] ?? '?'}:${wchan}`;
  }));
  return `${(await mountedAt(mnt)) ? 'still mounted' : 'unmounted'}; threads ${waits.join(' ')}`;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * The one way a test mounts: `kmx ARGS` runs as a child process serving a mountpoint in a fresh
 * temporary directory; the test drives the mount from its own process (the server is another
 * process, so even synchronous calls are safe); and whatever happens, the server is stopped,
 * every mount under the directory is removed and the directory is deleted. A test that passed
 * fails still if the server told of a bug or a stack trace, or did not exit 0 on SIGTERM.
 */
export async function withTestMount<T>(options: TestMountOptions, body: (mount: TestMount) => Promise<T>): Promise<T> {
  return temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    await options.prepare?.({ dir, mnt });
    const argv = options.program ? [options.program, ...options.args({ dir, mnt })] : [kmxBin(), ...options.args({ dir, mnt })];
    const server = spawn(process.execPath, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    let output = '';
    server.stdout.on('data', (d: Buffer) => (output += d.toString()));
    server.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let signalled: NodeJS.Signals | undefined; // the first signal a stop sent
    const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | NodeJS.Signals | null> => {
      if (server.exitCode === null && server.signalCode === null) {
        signalled ??= signal;
        server.kill(signal);
        if (!(await waitForExit(server, 10_000))) {
          output += `[withTestMount: no exit 10 s after ${signal}; ${await hangDiagnosis(server.pid, mnt)}; SIGKILL]\n`;
          server.kill('SIGKILL');
          await waitForExit(server, 5_000);
        }
      }
      return server.exitCode ?? server.signalCode;
    };
    try {
      const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
      while (!(await mountedAt(mnt))) {
        if (server.exitCode !== null || server.signalCode !== null) throw new Error(`kmx exited (${server.exitCode ?? server.signalCode}) before mounting:\n${output}`);
        if (Date.now() > deadline) throw new Error(`kmx did not mount ${mnt} in time:\n${output}`);
        await sleep(20);
      }
      // Mounted is not yet ready: the server records the mount once its own first stat of it has
      // answered, and a test that freezes or kills the server before that races the check. (A
      // server running as another user keeps its records elsewhere; so does one that never records.)
      while (options.uid === undefined && Date.now() < deadline && !(await readMountRecords()).some((r) => r.mountpoint === mnt && r.pid === server.pid)) {
        if (server.exitCode !== null || server.signalCode !== null) break;
        await sleep(20);
      }
      const result = await body({ dir, mnt, server, output: () => output, stop });
      // A test that unmounted (kmx umount) has the server on its way out: a SIGTERM now could meet
      // it tearing down, its signal handlers gone, and kill it. Give it time to end by itself.
      if (!(await mountedAt(mnt))) await waitForExit(server, 5_000);
      checkServer(await stop(), signalled, output);
      return result;
    } finally {
      await stop(); // temporaryDirectory then removes whatever mount is left
    }
  });
}
