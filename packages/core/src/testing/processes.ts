import { spawn, type SpawnOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion and returns its exit status and output (never throws for a
 * non-zero exit). A run that outlives `timeoutMs` is killed, so a hanging command fails its
 * test instead of hanging the suite.
 */
export function run(program: string, args: readonly string[] = [], options: SpawnOptions & { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const { input, timeoutMs = 60_000, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { ...spawnOptions, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A child that exits without reading its stdin makes this write fail with EPIPE: that is
    // the child's business (its exit status tells), not an unhandled error in the test.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/** `sh -c script`, for tests that drive a mount the way a user's shell would. */
export function sh(script: string, options: SpawnOptions & { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run('/bin/sh', ['-c', script], options);
}

/** Runs a Python 3 script given as its lines (read from standard input). */
export function python(lines: readonly string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  return run('python3', ['-'], { ...options, input: `${lines.join('\n')}\n` });
}

/** The kmx executable of this checkout ($KMX_BIN overrides). */
export function kmxBin(): string {
  if (process.env.KMX_BIN) return process.env.KMX_BIN;
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('kmx/package.json')), 'bin', 'run.js');
}

/** Runs `kmx ARGS` in a child process. */
export function runKmx(args: readonly string[], options: SpawnOptions & { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [kmxBin(), ...args], options);
}
