import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { KmxError } from '../errors/index.js';
import { runtimeSubdir } from '../mount/registry.js';

/**
 * `--daemon`: the command starts itself again as a detached child (its own session, output
 * to a log file), hands it what it prepared at the terminal (passwords), and exits 0 only
 * once the child reports a mount that answers. Node cannot fork, hence the re-exec.
 */

const CHILD_ENV = 'KMX_DAEMON_CHILD';
const LOG_ENV = 'KMX_DAEMON_LOG';
/** How long a child that reported failure gets to exit before it is killed. */
const CHILD_EXIT_TIMEOUT_MS = 5000;

type ParentMessage = { type: 'prepared'; value: unknown };
type ChildMessage =
  | { type: 'ready'; mountpoint: string; pid: number }
  | { type: 'error'; message: string; hint?: string; exitCode: number };

export function isDaemonChild(): boolean {
  return process.env[CHILD_ENV] === '1' && typeof process.send === 'function';
}

/** The log file of a daemon child (recorded with its mount), if this is one. */
export function daemonLogFile(): string | undefined {
  return isDaemonChild() ? process.env[LOG_ENV] : undefined;
}

/**
 * V8 flags for the serving child. On two cores, V8's helper threads for concurrent marking
 * and parallel scavenges compete with what a mount's data passes through (ssh and sshd, the
 * kernel, the application): on kmx sftp's established mounts a single-threaded GC took the
 * CPU of a 256 MiB write from 730–780 to 510–730 ms and of a read from 780–800 to 570–690 ms,
 * and both went faster. It lengthens the pauses, though: kmx enc's untar of 2,000 files, a
 * request at a time, took 0.86–0.89× gocryptfs's time without and 1.00–1.35× with. Hence a
 * plugin's choice; and with more cores the helpers run on idle ones.
 */
function serverFlags(singleThreadedGc: boolean): string[] {
  return singleThreadedGc && availableParallelism() <= 2 && !process.execArgv.includes('--single-threaded-gc') ? ['--single-threaded-gc'] : [];
}

/**
 * glibc's malloc on transparent huge pages for the serving child (glibc.malloc.hugetlb=1, where
 * the kernel allows them on request). A new process pays ~11 µs per page it touches for the
 * first time on this kind of VM, and a serving process touches tens of MiB of data buffers
 * before its heap stops growing: a fresh kmx sftp mount's first 256 MiB read took 18,700–20,800
 * page faults and 880–1,070 ms of CPU, with huge pages 250–400 and 760–780 ms. A plugin's
 * choice, as measured for sftp only (resident after a transfer: 183 MiB instead of 166); read at
 * start-up, hence the environment.
 */
function serverEnvironment(hugePageMalloc: boolean): NodeJS.ProcessEnv {
  const tunables = process.env.GLIBC_TUNABLES;
  if (!hugePageMalloc || tunables?.includes('glibc.malloc.hugetlb')) return {};
  return { GLIBC_TUNABLES: tunables ? `${tunables}:glibc.malloc.hugetlb=1` : 'glibc.malloc.hugetlb=1' };
}

export interface ServerTuning {
  singleThreadedGc?: boolean;
  hugePageMalloc?: boolean;
}

/** Parent side: start the detached child and wait for its verdict. */
export async function runDetached(plugin: string, prepared: unknown, options: ServerTuning = {}): Promise<{ mountpoint: string; pid: number; log: string }> {
  const log = join(await runtimeSubdir('logs'), `${plugin}-${Date.now()}-${process.pid}.log`);
  const fd = openSync(log, 'a', 0o600);
  const child = spawn(process.execPath, [...process.execArgv, ...serverFlags(options.singleThreadedGc === true), ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
    env: { ...process.env, ...serverEnvironment(options.hugePageMalloc === true), [CHILD_ENV]: '1', [LOG_ENV]: log },
  });
  closeSync(fd);
  child.send({ type: 'prepared', value: prepared } satisfies ParentMessage);

  const stopChild = (): void => {
    child.kill('SIGTERM');
  };
  process.once('SIGINT', stopChild);
  process.once('SIGTERM', stopChild);
  try {
    return await new Promise((resolve, reject) => {
      let failure: KmxError | undefined;
      let killer: NodeJS.Timeout | undefined;
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') return resolve({ mountpoint: message.mountpoint, pid: message.pid, log });
        // A failed child is on its way out: report once it is gone, so that nothing outlives this command.
        failure = new KmxError(message.message, { hint: message.hint, exitCode: message.exitCode });
        killer = setTimeout(() => child.kill('SIGKILL'), CHILD_EXIT_TIMEOUT_MS);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(killer);
        reject(failure ?? new KmxError(`the mount process ended (${signal ?? `exit code ${code}`}) before the mount was ready`, { hint: `its log: ${log}` }));
      });
      child.on('error', reject);
    });
  } finally {
    process.off('SIGINT', stopChild);
    process.off('SIGTERM', stopChild);
    if (child.connected) child.disconnect();
    child.unref();
  }
}

/** Child side: what the parent prepared. */
export function receivePrepared<T>(): Promise<T> {
  return new Promise((resolve) => {
    process.once('message', (message: ParentMessage) => resolve(message.value as T));
  });
}

/** Child side: the mount answers; the parent may exit. */
export function reportReady(mountpoint: string): void {
  process.send?.({ type: 'ready', mountpoint, pid: process.pid } satisfies ChildMessage);
  process.disconnect?.();
}

/** Child side: the mount failed; the parent prints this and exits with its code. */
export function reportFailure(message: string, hint: string | undefined, exitCode: number): Promise<void> {
  return new Promise((resolve) => {
    const sent = process.send?.({ type: 'error', message, ...(hint ? { hint } : {}), exitCode } satisfies ChildMessage, () => resolve());
    if (!sent) resolve();
  });
}
