import { statSync } from 'node:fs';
import type { Cluster } from './cluster.js';
import { hostList, readClusterFile } from './peers.js';

/** How often a cluster file is checked for changes: hosts join and leave within this. */
export const CLUSTER_FILE_PERIOD_MS = 2000;

/** What tells a changed file apart: its inode, size and modification time. */
function signature(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (err) {
    return `missing:${(err as { code?: string }).code ?? ''}`;
  }
}

/**
 * Reloads the cluster file whenever it changes (checked every `periodMs`): hosts added join,
 * hosts removed leave, hosts that kept their place go on untouched. A file that cannot be
 * read or is not valid leaves the membership as it was, with one log line per change.
 * Returns the function that stops watching.
 */
export function watchClusterFile(path: string, localName: string, cluster: Cluster, log: (line: string) => void, periodMs = CLUSTER_FILE_PERIOD_MS): () => void {
  let seen = signature(path);
  const timer = setInterval(() => {
    const now = signature(path);
    if (now === seen) return;
    seen = now;
    try {
      const { joined, left } = cluster.replaceHosts(hostList(localName, readClusterFile(path).hosts));
      if (joined.length || left.length) log(`cluster file ${path} changed: ${joined.length ? `joined ${joined.join(', ')}` : ''}${joined.length && left.length ? '; ' : ''}${left.length ? `left ${left.join(', ')}` : ''}`);
    } catch (err) {
      log(`cluster file ${path} changed but was not taken: ${err instanceof Error ? err.message : String(err)}; the hosts stay as they were`);
    }
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
