import { spawn } from 'node:child_process';
import { ApiError } from '../server/routes.js';

/** How to start this kmx again: the Node binary and the script it runs (bin/run.js). */
export interface KmxExecutable {
  node: string;
  script: string;
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `kmx ARGS` as a child of the server (so as the server's user), the way a user would at
 * a shell: the page reaches every plugin through its own command, never a second copy of it.
 * A secret goes to the child's standard input, never into its arguments or environment.
 */
export function runKmxChild(kmx: KmxExecutable, args: readonly string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kmx.node, [kmx.script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // With --daemon the serving grandchild keeps these pipes; 'exit' (not 'close') says the command is done.
    child.on('exit', (code) => {
      clearTimeout(timer);
      setImmediate(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ code, stdout, stderr });
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
  });
}

/** The child's one-line error as an API error (kmx reports every failure as one line on stderr). */
export function failureOf(result: ChildResult, what: string): ApiError {
  const lines = result.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines.find((l) => l.startsWith('kmx')) ?? lines[lines.length - 1] ?? `${what} failed (exit ${result.code ?? 'signal'})`;
  return new ApiError(400, line);
}

/** Runs a kmx command that must succeed; resolves to its stdout. */
export async function kmxOrFail(kmx: KmxExecutable, args: readonly string[], what: string, options: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  const result = await runKmxChild(kmx, args, options);
  if (result.code !== 0) throw failureOf(result, what);
  return result.stdout;
}
