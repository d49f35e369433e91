import { cpuInCpuset, cpusetSize } from '../cgroup/cpuset.js';
import type { CpuQuota } from '../cgroup/cpu.js';

/**
 * How many CPUs a cgroup is shown, as lxcfs's CPU view counts them: the quota's share of a
 * period rounded up (never more than the CPUs online), and never more than its cpuset holds;
 * the cpuset's size without a quota; 0 when neither is known.
 */
export function visibleCpuCount(cpuset: string | undefined, quota: CpuQuota | undefined, onlineCpus: number): number {
  const inCpuset = cpuset ? cpusetSize(cpuset) : 0;
  if (!quota || quota.quota <= 0 || quota.period <= 0) return inCpuset;
  const byQuota = Math.min(Math.ceil(quota.quota / quota.period), onlineCpus);
  return inCpuset > 0 && inCpuset < byQuota ? inCpuset : byQuota;
}

/** The quota as a fraction of CPUs (0.5 for half a CPU), at most the CPUs online; 0 without a quota. */
export function exactCpuCount(quota: CpuQuota | undefined, onlineCpus: number): number {
  if (!quota || quota.quota <= 0 || quota.period <= 0) return 0;
  return Math.min(quota.quota / quota.period, onlineCpus);
}

const PROCESSOR = /^processor\s*:\s*(\d+)/;

/**
 * /proc/cpuinfo for the cgroup: only the processors in its cpuset, renumbered from 0, and no
 * more than `visible` of them (0: no bound).
 */
export function cgroupCpuinfo(hostText: string, cpuset: string, visible: number): string {
  let out = '';
  let shown = -1;
  let printing = false;
  for (const line of hostText.split(/(?<=\n)/)) {
    const processor = PROCESSOR.exec(line);
    if (processor) {
      if (visible > 0 && shown + 1 === visible) break;
      printing = cpuInCpuset(Number(processor[1]), cpuset);
      if (printing) out += `processor\t: ${++shown}\n`;
      continue;
    }
    if (printing) out += line;
  }
  return out;
}
