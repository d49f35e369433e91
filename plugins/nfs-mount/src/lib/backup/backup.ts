import { KmxError } from '@kmx/core';
import { ProgressLine } from './progress.js';
import { startSync, type RunningSync, type SyncSummary } from './rsync.js';
import { watchQuietly } from './watch.js';

// kmx nfs backup: a one-shot rsync, or a watched mode that syncs again shortly after changes
// stop. An interrupt stops rsync (its partial files stay aside for the next run to resume).

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
}

function describe(s: SyncSummary): string {
  const mib = (s.bytes / 1048576).toFixed(1);
  return `${s.files} file${s.files === 1 ? '' : 's'} copied (${mib} MiB)${s.deleted ? `, ${s.deleted} deleted` : ''} in ${s.seconds.toFixed(1)} s`;
}

export async function runBackup(o: BackupOptions): Promise<SyncSummary> {
  let current: RunningSync | undefined;
  let interrupted: NodeJS.Signals | undefined;
  let stopWatching: (() => void) | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = signal;
    current?.child.kill('SIGTERM');
    stopWatching?.();
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
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
  try {
    const first = await once();
    o.report(`synced ${o.source} to ${o.target}: ${describe(first)}`);
    if (!o.watch) return first;
    let dirty = false;
    let total = first;
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
      const s = await once();
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
