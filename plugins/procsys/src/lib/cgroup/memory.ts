import { readCgroupFile, readNumber, readUpward, selfAndAncestors } from './read.js';
import type { CgroupDir } from './hierarchies.js';

/** The page-cache and LRU figures of memory.stat that /proc/meminfo shows, in bytes. */
export interface MemoryStat {
  cache: number;
  activeAnon: number;
  inactiveAnon: number;
  activeFile: number;
  inactiveFile: number;
  unevictable: number;
  dirty: number;
  writeback: number;
  shmem: number;
  mapped: number;
  anonHuge: number;
}

/** What a memory cgroup allows and uses, in bytes; a limit of 0 means none is set. */
export interface MemoryState {
  usage: number;
  /** The smallest limit of the cgroup and those above it. */
  limit: number;
  /** v1: the memory+swap limit (memsw); v2: the swap limit alone; 0 when none or no swap accounting. */
  swapLimit: number;
  /** v1: memory+swap in use; v2: swap in use. */
  swapUsage: number;
  /** memory.swappiness (v1); 1 where there is none, as lxcfs takes it. */
  swappiness: number;
  stat: MemoryStat;
  unified: boolean;
}

/** memory.stat keys: v1's hierarchical totals, v2's own (hierarchical by nature). */
const STAT_KEYS: Record<keyof MemoryStat, [v1: string, v2: string]> = {
  cache: ['total_cache', 'file'],
  activeAnon: ['total_active_anon', 'active_anon'],
  inactiveAnon: ['total_inactive_anon', 'inactive_anon'],
  activeFile: ['total_active_file', 'active_file'],
  inactiveFile: ['total_inactive_file', 'inactive_file'],
  unevictable: ['total_unevictable', 'unevictable'],
  dirty: ['total_dirty', 'file_dirty'],
  writeback: ['total_writeback', 'file_writeback'],
  shmem: ['total_shmem', 'shmem'],
  mapped: ['total_mapped_file', 'file_mapped'],
  anonHuge: ['total_rss_huge', 'anon_thp'],
};

export function parseMemoryStat(text: string, unified: boolean): MemoryStat {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.split(' ');
    if (key && value && /^\d+$/.test(value)) values.set(key, Number(value));
  }
  const stat = {} as MemoryStat;
  for (const [field, names] of Object.entries(STAT_KEYS) as Array<[keyof MemoryStat, [string, string]]>) stat[field] = values.get(names[unified ? 1 : 0]) ?? 0;
  return stat;
}

/** The smallest limit set on the cgroup or above it (0: none), as lxcfs's get_min_memlimit. */
function smallestLimit(cgroup: CgroupDir, file: string): number {
  let smallest = readUpward(cgroup, file) ?? 0;
  for (const dir of selfAndAncestors(cgroup).slice(1)) {
    const limit = readUpward({ ...cgroup, dir }, file) ?? 0;
    if (limit > 0 && limit < smallest) smallest = limit;
  }
  return smallest;
}

/** Reads a memory cgroup; undefined when its usage or memory.stat cannot be read (the reader sees the host's file then). */
export function readMemory(cgroup: CgroupDir): MemoryState | undefined {
  const v2 = cgroup.unified;
  const usage = readUpward(cgroup, v2 ? 'memory.current' : 'memory.usage_in_bytes');
  const statText = readCgroupFile(cgroup.dir, 'memory.stat');
  if (usage === undefined || statText === undefined) return undefined;
  const swapLimit = smallestLimit(cgroup, v2 ? 'memory.swap.max' : 'memory.memsw.limit_in_bytes');
  const swapUsage = swapLimit > 0 ? readUpward(cgroup, v2 ? 'memory.swap.current' : 'memory.memsw.usage_in_bytes') : undefined;
  return {
    usage,
    limit: smallestLimit(cgroup, v2 ? 'memory.max' : 'memory.limit_in_bytes'),
    // Without a readable usage the swap figures are left out altogether, as lxcfs does.
    swapLimit: swapUsage === undefined ? 0 : swapLimit,
    swapUsage: swapUsage ?? 0,
    swappiness: (swapUsage === undefined ? undefined : readNumber(cgroup.dir, 'memory.swappiness')) ?? 1,
    stat: parseMemoryStat(statText, v2),
    unified: v2,
  };
}
