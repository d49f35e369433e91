import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LineWriter {
  /** What it printed so far: `wrote N` every 100 lines (or `synced N` after each fsync), then `error N <strerror>`. */
  said(): string;
  /** Resolves once it has reported `count` lines written (or synced). */
  reached(count: number): Promise<void>;
  readonly exited: Promise<void>;
  kill(): void;
}

/**
 * A process that appends numbered 9-byte lines ("00000042\n") to `path` until a write fails,
 * for tests that pull a filesystem's server out from under a writer. With `fsyncEvery`, it
 * fsyncs that often and reports each.
 */
export function lineWriter(path: string, options: { fsyncEvery?: number } = {}): LineWriter {
  const every = options.fsyncEvery ?? 100;
  const report = options.fsyncEvery ? 'os.fsync(f); print("synced", n, flush=True)' : 'print("wrote", n, flush=True)';
  const child = spawn('python3', ['-c', [
    'import os',
    `f = os.open(${JSON.stringify(path)}, os.O_WRONLY | os.O_CREAT)`,
    'n = 0',
    'try:',
    '    while True:',
    '        os.write(f, b"%08d\\n" % n); n += 1',
    `        if n % ${every} == 0: ${report}`,
    'except OSError as e:',
    '    print("error", n, e.strerror, flush=True)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  child.stdout.on('data', (d: Buffer) => (said += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    said: () => said,
    reached: async (count) => {
      while (!new RegExp(`^(wrote|synced) ${count}$`, 'm').test(said)) {
        if (child.exitCode !== null) throw new Error(`the writer ended first: ${said}`);
        await sleep(20);
      }
    },
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

/** The lines such a writer writes, from the first: "00000000", "00000001", … */
export const writtenLines = (count: number): string[] => Array.from({ length: count }, (_, i) => String(i).padStart(8, '0'));
