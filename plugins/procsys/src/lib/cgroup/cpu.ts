import { readCgroupFile, selfAndAncestors } from './read.js';
import type { CgroupDir } from './hierarchies.js';

/** CPU time one cgroup used on one CPU, in USER_HZ ticks. */
export interface CpuTicks {
  user: number;
  system: number;
}

/** The CPU bandwidth limit: quota per period in µs; quota < 0 means none. */
export interface CpuQuota {
  quota: number;
  period: number;
}

/**
 * The CPUs a cgroup may run on: its cpuset.cpus, else cpuset.cpus.effective (v2), else the
 * nearest ancestor's (an empty list means "as the parent").
 */
export function readCpuset(cgroup: CgroupDir): string | undefined {
  for (const dir of selfAndAncestors(cgroup)) {
    for (const file of ['cpuset.cpus', 'cpuset.cpus.effective']) {
      const list = readCgroupFile(dir, file);
      if (list) return list;
    }
  }
  return undefined;
}

/** v1: cpu.cfs_quota_us and cpu.cfs_period_us; v2: cpu.max ("max 100000" has no quota). Only the cgroup's own, as lxcfs. */
export function readCpuQuota(cgroup: CgroupDir): CpuQuota | undefined {
  if (cgroup.unified) {
    const [quota, period] = (readCgroupFile(cgroup.dir, 'cpu.max') ?? '').split(' ');
    if (!period || !/^\d+$/.test(period)) return undefined;
    return { quota: quota && /^\d+$/.test(quota) ? Number(quota) : -1, period: Number(period) };
  }
  const quota = readCgroupFile(cgroup.dir, 'cpu.cfs_quota_us');
  const period = readCgroupFile(cgroup.dir, 'cpu.cfs_period_us');
  if (!quota || !period || !/^-?\d+$/.test(quota) || !/^\d+$/.test(period)) return undefined;
  return { quota: Number(quota), period: Number(period) };
}

/** Nanoseconds to USER_HZ ticks, rounded down in the order lxcfs computes it (the figures then agree to the tick). */
function ticksOf(ns: number, hz: number): number {
  return Math.floor(ns / 1000 / 1000 / 1000 * hz);
}

/**
 * Per-CPU time of a cpuacct cgroup (v1): cpuacct.usage_all (user and system per CPU), or
 * cpuacct.usage_percpu (the total counted as both, as lxcfs does). v2 keeps no per-CPU
 * figures: undefined there, and the host's per-CPU lines are shown.
 */
export function readCpuTicks(cgroup: CgroupDir, cpuCount: number, hz = 100): CpuTicks[] | undefined {
  if (cgroup.unified) return undefined;
  const ticks: CpuTicks[] = Array.from({ length: cpuCount }, () => ({ user: 0, system: 0 }));
  const all = readCgroupFile(cgroup.dir, 'cpuacct.usage_all');
  if (all !== undefined) {
    const lines = all.split('\n');
    if (lines[0] !== 'cpu user system') return undefined;
    let index = 0;
    for (const line of lines.slice(1)) {
      const match = /^(\d+) (\d+) (\d+)$/.exec(line);
      if (!match) return undefined;
      if (index >= cpuCount) break;
      ticks[index++] = { user: ticksOf(Number(match[2]), hz), system: ticksOf(Number(match[3]), hz) };
    }
    return ticks;
  }
  const perCpu = readCgroupFile(cgroup.dir, 'cpuacct.usage_percpu');
  if (perCpu === undefined) return undefined;
  perCpu.split(/\s+/).filter(Boolean).slice(0, cpuCount).forEach((ns, i) => {
    const t = ticksOf(Number(ns), hz);
    ticks[i] = { user: t, system: t };
  });
  return ticks;
}

/** Total CPU time of a cpuacct cgroup in seconds (v1 cpuacct.usage); 0 when unknown, as lxcfs counts it. */
export function readCpuSeconds(cgroup: CgroupDir): number {
  if (cgroup.unified) return 0;
  const ns = readCgroupFile(cgroup.dir, 'cpuacct.usage');
  return ns && /^\d+$/.test(ns) ? Number(ns) / 1e9 : 0;
}
