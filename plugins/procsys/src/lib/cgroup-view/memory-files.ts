import type { MemoryState } from '../cgroup/memory.js';

/** Host figures a cgroup's memory view is bounded by, in kB. */
export interface HostMemory {
  memTotal: number;
  swapTotal: number;
}

export function hostMemory(meminfo: string): HostMemory {
  const field = (key: string): number => Number(new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(meminfo)?.[1] ?? 0);
  return { memTotal: field('MemTotal'), swapTotal: field('SwapTotal') };
}

/** The swap a cgroup may use and uses, in kB, before the host's swap bounds it (lxcfs's get_swap_info). */
function cgroupSwap(memory: MemoryState): { total: number; used: number } {
  if (memory.swapLimit <= 0) return { total: 0, used: 0 };
  if (memory.unified) return { total: Math.floor(memory.swapLimit / 1024), used: Math.floor(memory.swapUsage / 1024) };
  // v1 counts memory and swap together (memsw): swap is what memsw adds to memory.
  const total = memory.limit > memory.swapLimit ? 0 : Math.floor((memory.swapLimit - memory.limit) / 1024);
  const used = memory.usage > memory.swapUsage ? 0 : Math.floor((memory.swapUsage - memory.usage) / 1024);
  return { total, used };
}

/** The swap total shown: the cgroup's memory plus swap limit, never more than the host has; none at swappiness 0. */
function shownSwapTotal(swap: { total: number; used: number }, memoryKb: number, host: HostMemory, swappiness: number): number {
  let total = Math.min(swap.total + memoryKb, host.swapTotal);
  if (swappiness === 0) total = swap.used;
  return total;
}

const line = (key: string, kb: number): string => `${`${key}:`.padEnd(16)}${String(kb).padStart(8)} kB\n`;

/**
 * /proc/meminfo for a reader in `memory`'s cgroup, as lxcfs computes it: MemTotal is the
 * smallest limit on the way to the root (the host's when larger or none), MemFree the limit
 * less the usage, MemAvailable that plus the cgroup's page cache; the LRU, cache, dirty,
 * mapped and shmem lines come from memory.stat; Buffers, Slab, SwapCached and the like are 0,
 * as a cgroup does not account them; the other lines are the host's.
 */
export function cgroupMeminfo(hostText: string, memory: MemoryState): string {
  const host = hostMemory(hostText);
  const limitKb = memory.limit > 0 ? Math.min(Math.floor(memory.limit / 1024), host.memTotal) : host.memTotal;
  const usageKb = Math.floor(memory.usage / 1024);
  const freeKb = Math.max(0, limitKb - usageKb);
  const swap = cgroupSwap(memory);
  // v2's swap limit is swap alone; v1's counts memory too, which cgroupSwap took out: add it back.
  const shownSwap = shownSwapTotal(swap, memory.unified ? 0 : limitKb, host, memory.swappiness);
  const s = memory.stat;
  const kb = (bytes: number): number => Math.floor(bytes / 1024);
  const replaced: Record<string, number> = {
    MemTotal: limitKb,
    MemFree: freeKb,
    MemAvailable: freeKb + kb(s.cache),
    Buffers: 0,
    Cached: kb(s.cache),
    SwapCached: 0,
    Active: kb(s.activeAnon + s.activeFile),
    Inactive: kb(s.inactiveAnon + s.inactiveFile),
    'Active(anon)': kb(s.activeAnon),
    'Inactive(anon)': kb(s.inactiveAnon),
    'Active(file)': kb(s.activeFile),
    'Inactive(file)': kb(s.inactiveFile),
    Unevictable: kb(s.unevictable),
    SwapTotal: shownSwap,
    SwapFree: Math.max(0, shownSwap - swap.used),
    Dirty: kb(s.dirty),
    Writeback: kb(s.writeback),
    AnonPages: kb(Math.max(0, s.activeAnon + s.inactiveAnon - s.shmem)),
    Mapped: kb(s.mapped),
    Shmem: kb(s.shmem),
    Slab: 0,
    SReclaimable: 0,
    SUnreclaim: 0,
    ShmemHugePages: 0,
    ShmemPmdMapped: 0,
    AnonHugePages: kb(s.anonHuge),
  };
  let out = '';
  for (const hostLine of hostText.split('\n')) {
    if (hostLine === '') continue;
    const key = hostLine.slice(0, hostLine.indexOf(':'));
    const value = replaced[key];
    out += value === undefined ? `${hostLine}\n` : line(key, value);
  }
  return out;
}

/**
 * /proc/swaps for the cgroup: the header, and one "none … virtual" line with the swap it may
 * use (memory limit plus its swap, bounded by the host's swap) when that is not zero.
 */
export function cgroupSwaps(hostMeminfo: string, memory: MemoryState): string {
  const host = hostMemory(hostMeminfo);
  const swap = cgroupSwap(memory);
  const total = shownSwapTotal(swap, Math.floor(memory.limit / 1024), host, memory.swappiness);
  let out = 'Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n';
  if (total > 0) out += `none${' '.repeat(36)}virtual\t\t${total}\t${swap.used}\t0\n`;
  return out;
}
