import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Flush dirty pages and drop the page cache, so that reads come from the disk (root only). */
export function dropCaches(): void {
  spawnSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

/** Runs a shell command line, failing loudly, and returns its wall time in seconds. */
export function timeShell(script: string): number {
  const start = performance.now();
  const r = spawnSync('/bin/sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0) throw new Error(`benchmark step failed: ${script}\n${r.stderr.toString()}`);
  return seconds;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Medians of `rounds` alternating runs of the same workload on each target, so that both see
 * the same machine load (the machines are shared and noisy: compare ratios, not figures).
 */
export function alternate<T extends string>(targets: readonly T[], rounds: number, once: (target: T) => number): Record<T, number> {
  const samples = Object.fromEntries(targets.map((t) => [t, [] as number[]])) as Record<T, number[]>;
  for (let i = 0; i < rounds; i++) for (const t of targets) samples[t].push(once(t));
  return Object.fromEntries(targets.map((t) => [t, median(samples[t])])) as Record<T, number>;
}

/** The same as `alternate`, for workloads measured asynchronously. */
export async function alternateAsync<T extends string>(targets: readonly T[], rounds: number, once: (target: T) => number | Promise<number>): Promise<Record<T, number>> {
  const samples = Object.fromEntries(targets.map((t) => [t, [] as number[]])) as Record<T, number[]>;
  for (let i = 0; i < rounds; i++) for (const t of targets) samples[t].push(await once(t));
  return Object.fromEntries(targets.map((t) => [t, median(samples[t])])) as Record<T, number>;
}

export function loadAverage(): string {
  return execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
}
