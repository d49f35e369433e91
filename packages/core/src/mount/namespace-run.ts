import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { SysError } from '../errors/index.js';
import { defaultHelperPath, helperMissing, parseHelperReport, type HelperOptions } from './nshelper.js';

// Running a command in a private mount namespace of its own, with bind mounts only it sees.

export interface Bind {
  /** Resolved in the caller's view at start; mounts below it come along (MS_BIND|MS_REC). */
  source: string;
  /** An existing directory or file; its last component must not be a symlink. */
  target: string;
  readOnly?: boolean;
}

export interface BindSetup {
  /** Applied in order, each nosuid,nodev on every mount of the copy. */
  binds: readonly Bind[];
  /**
   * Mount a real procfs here first (created if missing, nosuid,nodev,noexec): procsys binds
   * its FUSE view over /proc and answers `self` with /run/kmx/realproc/self.
   */
  procAt?: string;
}

/** Node's spawn options, plus where the helper is. Node's own `timeout` applies to the command. */
export type BindSpawnOptions = SpawnOptions & Pick<HelperOptions, 'helperPath'>;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function helperArgs(setup: BindSetup, reportFd: number, command: string, args: readonly string[]): string[] {
  const argv = ['run', String(reportFd)];
  if (setup.procAt !== undefined) {
    if (!setup.procAt.startsWith('/')) throw SysError.of('EINVAL', 'mount', setup.procAt, { detail: 'procAt must be absolute' });
    argv.push('--proc', setup.procAt);
  }
  for (const bind of setup.binds) argv.push(bind.readOnly ? '--bind-ro' : '--bind', bind.source, bind.target);
  for (const arg of [...argv, command, ...args]) {
    if (arg.includes('\0')) throw SysError.of('EINVAL', 'execve', arg.replaceAll('\0', '\\0'));
  }
  return [...argv, '--', command, ...args];
}

/** The caller's stdio (default: inherited), as an array of at least three entries. */
function stdioArray(stdio: StdioOptions | undefined): Exclude<StdioOptions, string> {
  if (stdio === undefined || typeof stdio === 'string') {
    const each = stdio ?? 'inherit';
    return [each, each, each];
  }
  const entries = [...stdio];
  while (entries.length < 3) entries.push('inherit');
  return entries;
}

/**
 * Spawns `command` in a new private mount namespace after the binds of `setup` (and procAt).
 * Its stdio is inherited unless `options.stdio` says otherwise; extra stdio entries reach the
 * command as fds 3, 4, …. If the setup or exec fails, the returned child emits 'error' with
 * the SysError (errno, step, path) and exits with status 125 (126/127 for exec).
 */
export function spawnWithBinds(setup: BindSetup, command: string, args: readonly string[] = [], options: BindSpawnOptions = {}): ChildProcess {
  const { helperPath, stdio, ...spawnOptions } = options;
  const entries = stdioArray(stdio);
  const reportFd = entries.length; // closed by exec: the command never sees it
  const child = spawn(helperPath ?? defaultHelperPath(), helperArgs(setup, reportFd, command, args), {
    ...spawnOptions,
    stdio: [...entries, 'pipe'],
  });
  const report = child.stdio[reportFd];
  let text = '';
  report?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  report?.on('end', () => {
    const error = parseHelperReport(text);
    if (error) child.emit('error', error);
  });
  return child;
}

/**
 * Runs `command` like spawnWithBinds and resolves with its exit status; rejects with a
 * SysError when the namespace could not be set up or the command not started.
 */
export function runWithBinds(setup: BindSetup, command: string, args: readonly string[] = [], options: BindSpawnOptions = {}): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    let failed = false;
    const child = spawnWithBinds(setup, command, args, options);
    child.on('error', (err) => {
      failed = true;
      reject(err instanceof SysError ? err : helperMissing(options.helperPath ?? defaultHelperPath(), err));
    });
    child.on('close', (code, signal) => {
      if (!failed) resolve({ code, signal });
    });
  });
}
