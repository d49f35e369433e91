import { statSync } from 'node:fs';
import type { Resolver } from 'node:dns/promises';
import type { Cluster } from './cluster.js';
import { hostList, readClusterFile, type PeerSpec } from './peers.js';
import { placeHosts, resolveSrvPeers } from './srv.js';

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

/** Gives the cluster a new host list and logs who joined and left (`what` says where it came from). */
function takeHosts(cluster: Cluster, specs: readonly PeerSpec[], what: string, log: (line: string) => void): void {
  const { joined, left } = cluster.replaceHosts(specs);
  if (joined.length || left.length) log(`${what}: ${joined.length ? `joined ${joined.join(', ')}` : ''}${joined.length && left.length ? '; ' : ''}${left.length ? `left ${left.join(', ')}` : ''}`);
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
      takeHosts(cluster, hostList(localName, readClusterFile(path).hosts), `cluster file ${path} changed`, log);
    } catch (err) {
      log(`cluster file ${path} changed but was not taken: ${err instanceof Error ? err.message : String(err)}; the hosts stay as they were`);
    }
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The cluster's hosts as specs, in slot order. */
function currentSpecs(cluster: Cluster): PeerSpec[] {
  return cluster.statuses().map((s) => (s.name === cluster.local.name ? { name: s.name } : { name: s.name, address: s.address }));
}

/**
 * Looks `service` up again every `periodMs`: hosts it lists join, hosts it no longer lists
 * leave (all of them when the name has no records), hosts still listed keep their slot.
 * When DNS does not answer, the hosts stay as they were (one log line until it answers
 * again). Returns the function that stops watching.
 */
export function watchSrv(service: string, resolver: Resolver, localName: string, cluster: Cluster, log: (line: string) => void, periodMs: number): () => void {
  let busy = false;
  let failing = false;
  let lastSkipped = '';
  const lookUp = async (): Promise<void> => {
    try {
      const { peers, skipped } = await resolveSrvPeers(service, resolver);
      if (failing) log(`SRV ${service} answers again`);
      failing = false;
      if (skipped.length && skipped.join('\n') !== lastSkipped) log(`SRV ${service}: left out ${skipped.join('; ')}`);
      lastSkipped = skipped.join('\n');
      takeHosts(cluster, placeHosts(currentSpecs(cluster), peers, localName), `SRV ${service} changed`, log);
    } catch (err) {
      if (!failing) log(`${err instanceof Error ? err.message : String(err)}; the hosts stay as they were`);
      failing = true;
    }
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void lookUp().finally(() => (busy = false));
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
