import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { stopChild } from '@kmx/core/testing';

/** The v1 controllers a test cgroup is made in (this machine: each its own hierarchy). */
export const CONTROLLERS = ['memory', 'cpuset', 'cpu', 'cpuacct'] as const;

export interface TestCgroupLimits {
  memoryBytes: number;
  cpus: string;
  /** cpu.cfs_quota_us with the default 100 ms period. */
  quotaUs: number;
}

export interface TestCgroup {
  name: string;
  dir(controller: (typeof CONTROLLERS)[number]): string;
  /** Moves process `pid` into the cgroup of every controller. */
  enter(pid: number): Promise<void>;
  /** A process sleeping in the cgroup (stopped with the cgroup). */
  sleeper(): Promise<ChildProcess>;
}

/**
 * Runs `body` with a fresh v1 cgroup in memory, cpuset, cpu and cpuacct, limited as asked;
 * afterwards stops the processes it started, moves whatever is left to the root cgroup and
 * removes the cgroup, whatever happened.
 */
export async function withTestCgroup<T>(limits: TestCgroupLimits, body: (cgroup: TestCgroup) => Promise<T>): Promise<T> {
  const name = `kmxt-cg${process.pid}-${Date.now() % 100000}`;
  const dir = (controller: string): string => `/sys/fs/cgroup/${controller}/${name}`;
  const children: ChildProcess[] = [];
  try {
    for (const controller of CONTROLLERS) await mkdir(dir(controller));
    await writeFile(`${dir('memory')}/memory.limit_in_bytes`, String(limits.memoryBytes));
    await writeFile(`${dir('cpuset')}/cpuset.mems`, await readFile('/sys/fs/cgroup/cpuset/cpuset.mems', 'latin1'));
    await writeFile(`${dir('cpuset')}/cpuset.cpus`, limits.cpus);
    await writeFile(`${dir('cpu')}/cpu.cfs_quota_us`, String(limits.quotaUs));
    const enter = async (pid: number): Promise<void> => {
      for (const controller of CONTROLLERS) await writeFile(`${dir(controller)}/cgroup.procs`, String(pid));
    };
    return await body({
      name,
      dir,
      enter,
      sleeper: async () => {
        const child = spawn('sleep', ['600'], { stdio: 'ignore' });
        children.push(child);
        await enter(child.pid!);
        return child;
      },
    });
  } finally {
    for (const child of children) await stopChild(child);
    for (const controller of CONTROLLERS) {
      if (!existsSync(dir(controller))) continue;
      // A process of the test still inside (a reader that outlived a failure) goes back to the root.
      const left = (await readFile(`${dir(controller)}/cgroup.procs`, 'latin1').catch(() => '')).split('\n').filter(Boolean);
      for (const pid of left) await writeFile(`/sys/fs/cgroup/${controller}/cgroup.procs`, pid).catch(() => undefined);
      await rmdir(dir(controller)).catch(() => undefined);
    }
  }
}
