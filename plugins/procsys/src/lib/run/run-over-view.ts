import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KmxError, SysError, mountAt, mountFilesystem, readMountinfo, type FileSystem, type FuseOptions, type MountHelper,
} from '@kmx/core';
import { REAL_PROC_IN_RUN } from '../view/callers.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

/** The exit code a shell would report: the command's, or 128 + signal number. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13, SIGSEGV: 11, SIGABRT: 6 };
  return 128 + (signal ? numbers[signal] ?? 0 : 0);
}

/**
 * Runs `command` in a private mount namespace where `view` covers /proc and a real procfs
 * sits at REAL_PROC_IN_RUN (core's helper does both; this process never changes namespace).
 * Signals that reach kmx are passed on to the command. Resolves with its exit code.
 */
export function runOverView(helper: MountHelper, view: string, command: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = helper.spawnWithBinds({ binds: [{ source: view, target: '/proc' }], procAt: REAL_PROC_IN_RUN }, command, args, { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const signal of FORWARDED) process.on(signal, forward);
    const done = (): void => {
      for (const signal of FORWARDED) process.off(signal, forward);
    };
    let failure: unknown;
    child.on('error', (err) => {
      failure = err;
    });
    child.on('close', (code, signal) => {
      done();
      if (failure instanceof SysError && failure.syscall === 'execvp') {
        const missing = failure.code === 'ENOENT';
        return reject(new KmxError(missing ? `command not found: ${command}` : `cannot run ${command}: ${failure.message}`, { exitCode: missing ? 127 : 126 }));
      }
      if (failure) return reject(failure instanceof SysError ? new KmxError(`cannot set up the namespace for ${command}: ${failure.message}`, { exitCode: 125 }) : failure);
      resolve(exitCodeOf(code, signal));
    });
  });
}

/** Checks that `mountpoint` is a kmx procsys mount, for `run --mount`. */
export async function checkProcsysMount(mountpoint: string): Promise<void> {
  const mount = mountAt(await readMountinfo(), mountpoint);
  if (!mount) throw new KmxError(`${mountpoint} is not a mount point`, { hint: 'mount a view first: kmx procsys mount --daemon DIR' });
  if (mount.fstype !== 'fuse.kmx-procsys') throw new KmxError(`${mountpoint} is not a kmx procsys mount (it is ${mount.fstype})`, { hint: 'give the mountpoint of kmx procsys mount' });
}

/**
 * Serves `filesystem` on a temporary mountpoint for as long as `body` runs (kmx procsys run
 * without --mount), then unmounts it, whatever happened.
 */
export async function withTemporaryView<T>(filesystem: FileSystem, options: FuseOptions, body: (mountpoint: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'kmx-procsys-run-'));
  try {
    const mount = await mountFilesystem({ filesystem, mountpoint: dir, plugin: 'procsys', source: 'proc', options });
    try {
      return await body(mount.mountpoint);
    } finally {
      await mount.unmount().catch(() => mount.unmount({ lazy: true }));
    }
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
