import type { Caller, OpenReply } from '@kmx/core';
import { readCpuQuota, readCpuSeconds, readCpuset, readCpuTicks } from '../cgroup/cpu.js';
import { CgroupHierarchies, type CgroupDir, type Controller } from '../cgroup/hierarchies.js';
import { readMemory } from '../cgroup/memory.js';
import type { LocalProc } from '../proc/local-proc.js';
import type { Callers } from '../view/callers.js';
import { ProcMirror, type MirrorOptions } from '../view/mirror.js';
import { cgroupCpuinfo, exactCpuCount, visibleCpuCount } from './cpu-count.js';
import { CpuStatView, cpusetStat } from './cpu-stat.js';
import { configuredCpus, onlineCpus } from './cpus-online.js';
import { cgroupDiskstats } from './diskstats.js';
import { CgroupLoad } from './loadavg.js';
import { cgroupMeminfo, cgroupSwaps } from './memory-files.js';
import { cgroupUptime, initOfPidNamespace, secondsSinceBoot, startSeconds } from './uptime.js';

/** The files the cgroup view answers for the reader's cgroup; every other file is the mirror's. */
export const CGROUP_FILES = ['/meminfo', '/swaps', '/cpuinfo', '/stat', '/uptime', '/loadavg', '/diskstats'] as const;
type CgroupFile = (typeof CGROUP_FILES)[number];

/**
 * The mirror of /proc, cgroup-aware as lxcfs is (with its --enable-cfs and -l): meminfo,
 * swaps, cpuinfo, stat, uptime, loadavg and diskstats tell the reader the limits and use of
 * its own cgroups (memory, cpuset and cpu quota, cpuacct, blkio), on cgroup v1 or v2. A
 * reader in a nested pid namespace is answered for that namespace's init, as lxcfs does. A
 * file whose cgroup cannot be read is the host's, as with lxcfs.
 */
export class CgroupMirror extends ProcMirror {
  private readonly hierarchies: CgroupHierarchies;
  private readonly cpuStat = new CpuStatView();
  private readonly load = new CgroupLoad();
  private readonly cpuCount = configuredCpus();

  constructor(proc: LocalProc, callers: Callers, options: MirrorOptions = {}) {
    super(proc, callers, options);
    this.hierarchies = CgroupHierarchies.ofThisHost(proc.root);
    this.onDestroy.push(() => this.load.stop());
  }

  override open(path: string, flags: number, caller?: Caller): OpenReply {
    if (caller && (CGROUP_FILES as readonly string[]).includes(path)) {
      const text = this.render(path as CgroupFile, this.readerOf(caller.pid));
      if (text !== undefined) return { fh: this.handles.add({ kind: 'snapshot', data: Buffer.from(text, 'latin1') }), directIo: true };
    }
    return super.open(path, flags);
  }

  /** Whose cgroups answer: the reader, or its pid namespace's init when it has one of its own. */
  private readerOf(tid: number): number {
    const init = initOfPidNamespace(tid, this.proc.root);
    return init === undefined || init === 1 ? tid : init;
  }

  private host(file: string): string {
    return this.proc.readFile(file).toString('latin1');
  }

  private locate(tid: number, controller: Controller): CgroupDir | undefined {
    return this.hierarchies.locate(tid, controller);
  }

  /** The file for `tid`, or undefined to pass the host's through. */
  private render(path: CgroupFile, tid: number): string | undefined {
    switch (path) {
      case '/meminfo':
      case '/swaps': {
        const cgroup = this.locate(tid, 'memory');
        const memory = cgroup && readMemory(cgroup);
        if (!memory) return undefined;
        return path === '/meminfo' ? cgroupMeminfo(this.host('/meminfo'), memory) : cgroupSwaps(this.host('/meminfo'), memory);
      }
      case '/cpuinfo':
      case '/stat': {
        const cpusetDir = this.locate(tid, 'cpuset');
        const cpuset = cpusetDir && readCpuset(cpusetDir);
        if (!cpuset) return undefined;
        const cpuDir = this.locate(tid, 'cpu');
        const quota = cpuDir && readCpuQuota(cpuDir);
        const visible = visibleCpuCount(cpuset, quota, onlineCpus());
        if (path === '/cpuinfo') return cgroupCpuinfo(this.host('/cpuinfo'), cpuset, visible);
        const cpuacct = this.locate(tid, 'cpuacct');
        const ticks = cpuacct && readCpuTicks(cpuacct, this.cpuCount);
        if (!ticks) return cpusetStat(this.host('/stat'), cpuset);
        return this.cpuStat.render(cpusetDir.dir, this.host('/stat'), cpuset, ticks, visible, exactCpuCount(quota, onlineCpus()));
      }
      case '/uptime': {
        const reaper = initOfPidNamespace(tid, this.proc.root) ?? tid;
        const started = startSeconds(reaper, this.proc.root);
        if (started === undefined) return undefined;
        const cpuacct = this.locate(reaper, 'cpuacct');
        return cgroupUptime(secondsSinceBoot(this.proc.root) - started, cpuacct ? readCpuSeconds(cpuacct) : 0);
      }
      case '/loadavg': {
        const cpu = this.locate(tid, 'cpu');
        return cpu && this.load.render(cpu.dir, tid);
      }
      case '/diskstats': {
        const blkio = this.locate(tid, 'blkio');
        return blkio && cgroupDiskstats(this.host('/diskstats'), blkio);
      }
    }
  }
}
