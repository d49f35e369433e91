import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KmxError, SysError } from '../errors/index.js';

// The protocol of kmx-nshelper (packages/core/native/kmx-nshelper.c): fixed argv, fds as
// extra stdio, and on failure one line "kmx-nshelper: STEP: ERRNO[: PATH]".

/** Where and how to run the helper; the defaults suit a built checkout. */
export interface HelperOptions {
  /** The kmx-nshelper binary (default: the one `npm run build` compiles into core's dist). */
  helperPath?: string;
  /** How long one helper run may take (default 30 s); then it is killed and ETIMEDOUT thrown. */
  timeoutMs?: number;
}

/** Exit status of the helper when it failed before or instead of exec. */
export const HELPER_FAILED = 125;

const DEFAULT_TIMEOUT_MS = 30_000;
const REPORT = /^kmx-nshelper: ([a-z_0-9]+): (\d+)(?:: (.*))?$/m;

/** The compiled helper: dist/src/mount/nshelper.js → dist/native/kmx-nshelper. */
export function defaultHelperPath(): string {
  return fileURLToPath(new URL('../../native/kmx-nshelper', import.meta.url));
}

/** The SysError a helper report stands for, or undefined when `text` holds no report. */
export function parseHelperReport(text: string): SysError | undefined {
  const match = REPORT.exec(text);
  if (!match) return undefined;
  return new SysError(Number(match[2]), match[1] ?? 'kmx-nshelper', match[3]);
}

/** The error for a helper that could not run at all (not built, not executable). */
export function helperMissing(path: string, err: unknown): KmxError {
  return new KmxError(`cannot run ${path}: ${err instanceof Error ? err.message : String(err)}`, {
    hint: 'build it with `npm run build` (it needs a C compiler: apt-get install gcc)',
    cause: err,
  });
}

/**
 * Runs the helper with `args`, passing `fds` as its fds 3, 4, …, with an empty environment.
 * Resolves with its stdout; rejects with the SysError it reported.
 */
export function runHelper(args: readonly string[], fds: readonly number[], options: HelperOptions = {}, input?: Buffer): Promise<string> {
  const path = options.helperPath ?? defaultHelperPath();
  return new Promise((resolve, reject) => {
    // `input` (a secret the helper reads from stdin) goes through a pipe, never argv.
    const child = spawn(path, args, { env: {}, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe', ...fds] });
    if (input) {
      child.stdin?.on('error', () => undefined); // a helper that failed first closed it
      child.stdin?.end(input);
    }
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // A helper stuck on a hung mount may not even die of SIGKILL: give up on it regardless.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(SysError.of('ETIMEDOUT', `kmx-nshelper ${args[0] ?? ''}`, undefined, { detail: stderr.trim() || undefined }));
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(helperMissing(path, err));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(Buffer.concat(stdout).toString('utf8'));
      const reported = parseHelperReport(stderr);
      if (reported) return reject(reported);
      reject(new KmxError(`kmx-nshelper ${args[0] ?? ''} failed (${code ?? signal})${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}
