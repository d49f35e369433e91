import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { KmxError } from '@kmx/core';
import { ProgressLine } from './progress.js';
import { PERMANENT_EXIT_CODES, SyncError, startSync, type RunningSync, type SyncSummary } from './rsync.js';
import { watchQuietly } from './watch.js';

// kmx nfs backup: a one-shot rsync, or a watched mode that syncs again shortly after changes
// stop. An interrupt stops rsync (its partial files stay aside for the next run to resume).
// Watching, a failed sync is tried again with backoff as long as the failure may pass (the
// target's server is down, say); one that cannot (the source or the target is gone or is no
// directory, rsync refuses its command) ends the backup.

export interface BackupOptions {
  source: string;
  target: string;
  delete: boolean;
  watch: boolean;
  debounceMs: number;
  bwlimit: number;
  report: (line: string) => void;
  /** Called once the first sync is done and watching has begun (tests wait for it). */
  onWatching?: () => void;
  /** First and largest wait before a failed sync is tried again (watching). */
  retryMs?: { first: number; max: number };
}

const RETRY_MS = { first: 1000, max: 60_000 };
/** How long a look at the source or the target may take (a hung mount never answers). */
const LOOK_TIMEOUT_MS = 5000;

function describe(s: SyncSummary): string {
  const mib = (s.bytes / 1048576).toFixed(1);
  return `${s.files} file${s.files === 1 ? '' : 's'} copied (${mib} MiB)${s.deleted ? `, ${s.deleted} deleted` : ''} in ${s.seconds.toFixed(1)} s`;
}

/**
 * What `stat` says `path` is ('directory', 'regular file', …), or the error's words ('No such
 * file or directory', …; 'no answer' after the timeout). In a child process: a stat of a hung
 * mount would otherwise hold one of Node's pool threads for ever.
 */
function look(path: string): Promise<{ type?: string; error?: string }> {
  return new Promise((resolve) => {
    execFile('stat', ['--format=%F', '--', path], { timeout: LOOK_TIMEOUT_MS, killSignal: 'SIGKILL', env: { LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      if (!err) resolve({ type: stdout.trim() });
      else if ((err as { killed?: boolean }).killed) resolve({ error: 'no answer' });
      else resolve({ error: /: ([^:]+)$/.exec(stderr.trim())?.[1] ?? stderr.trim() });
    });
  });
}

const GONE = new Set(['No such file or directory', 'Not a directory']);

/** Why a failed sync cannot succeed by trying again, if it cannot (undefined: it may pass). */
export async function lastingFailure(o: Pick<BackupOptions, 'source' | 'target'>, err: unknown): Promise<string | undefined> {
  if (err instanceof SyncError && err.rsyncExit === undefined && err.message.startsWith('cannot run rsync')) return err.message;
  if (err instanceof SyncError && err.rsyncExit !== undefined && PERMANENT_EXIT_CODES.has(err.rsyncExit)) return err.message;
  if (!(err instanceof SyncError)) return err instanceof Error ? err.message : String(err);
  const [source, parent, target] = await Promise.all([look(o.source), look(dirname(o.target)), look(o.target)]);
  if (source.error !== undefined && GONE.has(source.error)) return `the source ${o.source} is gone (${source.error.toLowerCase()})`;
  if (source.type !== undefined && source.type !== 'directory') return `the source ${o.source} is no longer a directory`;
  if (parent.error !== undefined && GONE.has(parent.error)) return `the target's parent directory ${dirname(o.target)} is gone (${parent.error.toLowerCase()})`;
  if (target.type !== undefined && target.type !== 'directory') return `the target ${o.target} is no longer a directory (it is a ${target.type})`;
  return undefined;
}

export async function runBackup(o: BackupOptions): Promise<SyncSummary> {
  const retryMs = o.retryMs ?? RETRY_MS;
  let current: RunningSync | undefined;
  let interrupted: NodeJS.Signals | undefined;
  let stopWatching: (() => void) | undefined;
  let wake: (() => void) | undefined;
  let endPause: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = signal;
    current?.child.kill('SIGTERM');
    stopWatching?.();
    wake?.();
    endPause?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const pause = (ms: number): Promise<void> => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    endPause = () => {
      clearTimeout(timer);
      resolve();
    };
  }).finally(() => {
    endPause = undefined;
  });
  const once = async (): Promise<SyncSummary> => {
    const bar = new ProgressLine();
    current = startSync({ source: o.source, target: o.target, delete: o.delete, bwlimit: o.bwlimit, onProgress: (p) => bar.update(p.percent, p.bytes, p.rate) });
    try {
      return await current.done;
    } finally {
      bar.finish();
      current = undefined;
    }
  };
  /**
   * One sync; watching, tried again with backoff while the failure may pass (said once, and
   * again once it works). Undefined when interrupted while waiting to try again.
   */
  const sync = async (): Promise<SyncSummary | undefined> => {
    let failingSince: number | undefined;
    let delay = retryMs.first;
    for (;;) {
      try {
        const s = await once();
        if (failingSince !== undefined) o.report(`syncing works again after ${Math.round((Date.now() - failingSince) / 1000)} s`);
        return s;
      } catch (err) {
        if (interrupted || !o.watch) throw err;
        const lasting = await lastingFailure(o, err);
        if (lasting !== undefined) throw new KmxError(`backup stopped: ${lasting}`, { hint: 'fix it and run the same command again (what was synced stays)' });
        if (failingSince === undefined) {
          failingSince = Date.now();
          o.report(`sync failed, trying again with backoff (up to every ${Math.round(retryMs.max / 1000)} s) until it works: ${err instanceof Error ? err.message : String(err)}`);
        }
        await pause(delay);
        if (interrupted) return undefined;
        delay = Math.min(delay * 2, retryMs.max);
      }
    }
  };
  try {
    const first = await sync();
    let total = first ?? { files: 0, bytes: 0, deleted: 0, seconds: 0 };
    if (first) o.report(`synced ${o.source} to ${o.target}: ${describe(first)}`);
    if (!o.watch) return total;
    if (interrupted) {
      o.report(`stopped before the first sync; in all ${describe(total)}`);
      return total;
    }
    let dirty = false;
    stopWatching = watchQuietly(o.source, o.debounceMs, () => {
      dirty = true;
      wake?.();
    }, (err) => {
      o.report(`watching stopped: ${err.message}`);
      onSignal('SIGTERM');
    });
    o.report(`watching ${o.source} (Ctrl-C to stop)`);
    o.onWatching?.();
    while (!interrupted) {
      if (!dirty) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if (interrupted) break;
      dirty = false;
      const s = await sync();
      if (!s) break;
      total = { files: total.files + s.files, bytes: total.bytes + s.bytes, deleted: total.deleted + s.deleted, seconds: total.seconds + s.seconds };
      o.report(`synced changes: ${describe(s)}`);
    }
    o.report(`stopped watching; in all ${describe(total)}`);
    return total;
  } catch (err) {
    if (interrupted) throw new KmxError(`backup interrupted (${interrupted})`, { hint: 'run the same command again to resume', exitCode: 130 });
    throw err;
  } finally {
    stopWatching?.();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
