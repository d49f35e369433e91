import { spawn, type ChildProcess } from 'node:child_process';
import { KmxError } from '@kmx/core';

// One rsync run: archive mode, partial files kept aside (an interrupted run resumes where it
// stopped, and the target never holds a half-written file under its real name), whole-run
// progress and a statistics block to summarise.

export const PARTIAL_DIR = '.kmx-backup-partial';

export interface SyncOptions {
  source: string;
  target: string;
  delete: boolean;
  /** KiB/s, 0 for no limit. */
  bwlimit?: number;
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  bytes: number;
  percent: number;
  rate: string;
}

export interface SyncSummary {
  files: number;
  bytes: number;
  deleted: number;
  seconds: number;
}

export function rsyncArgs(o: Pick<SyncOptions, 'source' | 'target' | 'delete' | 'bwlimit'>): string[] {
  return [
    '--archive', '--hard-links', '--partial-dir', PARTIAL_DIR, '--exclude', `/${PARTIAL_DIR}/`,
    '--info=progress2,stats2', '--no-inc-recursive', '--no-human-readable', '--outbuf=L',
    ...(o.delete ? ['--delete-after'] : []),
    ...(o.bwlimit ? [`--bwlimit=${o.bwlimit}`] : []),
    '--', `${o.source.replace(/\/+$/, '')}/`, `${o.target.replace(/\/+$/, '')}/`,
  ];
}

// --no-human-readable prints plain digits (older rsyncs group them with commas).
const number = (text: string | undefined): number => Number((text ?? '0').replace(/,/g, '')) || 0;

export function parseStats(output: string): Omit<SyncSummary, 'seconds'> {
  const files = /Number of regular files transferred: ([\d,.]+)/.exec(output)?.[1];
  const deleted = /Number of deleted files: ([\d,.]+)/.exec(output)?.[1];
  const bytes = /Total transferred file size: ([\d,.]+)(?: bytes)?/.exec(output)?.[1];
  return { files: number(files), deleted: number(deleted), bytes: number(bytes) };
}

/** `    12345678  45%   10.00MB/s    0:00:01 (xfr#3, to-chk=10/20)` */
function parseProgress(line: string): Progress | undefined {
  const m = /^\s*([\d,]+)\s+(\d+)%\s+(\S+\/s)/.exec(line);
  if (!m) return undefined;
  return { bytes: number(m[1]), percent: Number(m[2]), rate: m[3] ?? '' };
}

export interface RunningSync {
  child: ChildProcess;
  done: Promise<SyncSummary>;
}

/** rsync failed: its exit code (undefined when it could not run, or was stopped by a signal). */
export class SyncError extends KmxError {
  constructor(message: string, readonly rsyncExit: number | undefined, options: { hint?: string | undefined } = {}) {
    super(message, options);
  }
}

/**
 * rsync's exit codes for a wrong command or an rsync that cannot do what was asked: no retry
 * changes them (1 syntax or usage, 2 protocol incompatibility, 4 unsupported action).
 */
export const PERMANENT_EXIT_CODES = new Set([1, 2, 4]);

/** Starts rsync; `done` rejects with a one-line SyncError when rsync fails. */
export function startSync(o: SyncOptions): RunningSync {
  const started = Date.now();
  const child = spawn('rsync', rsyncArgs(o), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    const text = d.toString();
    stdout += text;
    if (stdout.length > 1 << 20) stdout = stdout.slice(-65536); // progress lines: keep only the tail
    for (const piece of text.split(/[\r\n]/)) {
      const p = parseProgress(piece);
      if (p) o.onProgress?.(p);
    }
  });
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<SyncSummary>((resolve, reject) => {
    child.on('error', (err) => reject(new SyncError(`cannot run rsync: ${err.message}`, undefined, { hint: 'install it: apt-get install rsync' })));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve({ ...parseStats(stdout), seconds: (Date.now() - started) / 1000 });
      if (signal) return reject(new SyncError(`rsync was stopped (${signal})`, undefined, { hint: 'run the same backup again to resume' }));
      const line = stderr.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('rsync error:')) ?? stderr.trim();
      reject(new SyncError(`rsync failed (exit ${code}): ${line}`, code ?? undefined, { hint: code === 23 || code === 24 ? 'some files could not be read or vanished; run again' : undefined }));
    });
  });
  return { child, done };
}
