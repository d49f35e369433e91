import { watch, type FSWatcher } from 'node:fs';
import { PARTIAL_DIR } from './rsync.js';

/**
 * Calls `onQuiet` once changes under `dir` (inotify, recursive) have stopped for `debounceMs`.
 * Returns a function that stops watching.
 */
export function watchQuietly(dir: string, debounceMs: number, onQuiet: () => void, onError: (err: Error) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dir, { recursive: true }, (_event, name) => {
    if (name && String(name).split('/')[0] === PARTIAL_DIR) return;
    clearTimeout(timer);
    timer = setTimeout(onQuiet, debounceMs);
  });
  watcher.on('error', onError);
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
