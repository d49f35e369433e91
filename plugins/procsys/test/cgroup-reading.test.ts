import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory } from '@kmx/core/testing';
import { readCpuQuota, readCpuset, readCpuTicks } from '../src/lib/cgroup/cpu.js';
import { CgroupHierarchies } from '../src/lib/cgroup/hierarchies.js';
import { readMemory } from '../src/lib/cgroup/memory.js';
import { cgroupCpuinfo, visibleCpuCount } from '../src/lib/cgroup-view/cpu-count.js';
import { cpusetStat } from '../src/lib/cgroup-view/cpu-stat.js';
import { cgroupMeminfo, cgroupSwaps } from '../src/lib/cgroup-view/memory-files.js';
import { withTestCgroup } from './helpers/cgroups.js';
import { meminfoField } from './helpers/proc-text.js';

const MiB = 1024 * 1024;

describe('cgroup reading', () => {
  it('v1 (this machine): finds a process\'s cgroups and reads its memory, cpuset, quota and CPU time', async () => {
    const cpu = (await import('node:os')).cpus().length > 1 ? '1' : '0';
    await withTestCgroup({ memoryBytes: 256 * MiB, cpus: cpu, quotaUs: 50_000 }, async (cgroup) => {
      const child = await cgroup.sleeper();
      const hierarchies = CgroupHierarchies.ofThisHost();
      assert.equal(hierarchies.pureUnified, false);
      const memoryDir = hierarchies.locate(child.pid!, 'memory');
      assert.deepEqual(memoryDir, { dir: cgroup.dir('memory'), root: '/sys/fs/cgroup/memory', unified: false });
      const memory = readMemory(memoryDir!);
      assert.ok(memory);
      assert.equal(memory.limit, 256 * MiB);
      // v1 leaves a process's pages charged where it was: the usage is the file's, below the limit.
      const usageFile = Number((await import('node:fs')).readFileSync(`${cgroup.dir('memory')}/memory.usage_in_bytes`, 'latin1'));
      assert.ok(Math.abs(memory.usage - usageFile) < MiB && memory.usage < 256 * MiB, `usage ${memory.usage}`);
      assert.equal(memory.unified, false);
      assert.equal(readCpuset(hierarchies.locate(child.pid!, 'cpuset')!), cpu);
      assert.deepEqual(readCpuQuota(hierarchies.locate(child.pid!, 'cpu')!), { quota: 50_000, period: 100_000 });
      const ticks = readCpuTicks(hierarchies.locate(child.pid!, 'cpuacct')!, 2);
      assert.equal(ticks?.length, 2);
      // The limit shows as MemTotal, below the host's.
      const host = '/proc/meminfo';
      const text = cgroupMeminfo((await import('node:fs')).readFileSync(host, 'latin1'), memory);
      assert.equal(meminfoField(text, 'MemTotal'), 256 * 1024);
      assert.ok(meminfoField(text, 'MemFree') <= 256 * 1024);
      // A process outside any test cgroup (this one) gets its own, never the test's.
      assert.notEqual(hierarchies.locate(process.pid, 'memory')?.dir, cgroup.dir('memory'));
      assert.equal(hierarchies.locate(999_999_999, 'memory'), undefined, 'a gone process has no cgroup');
    });
  });

  it('v2: a tree laid out as the kernel does (limits with "max", swap apart, cpu.max, effective cpuset)', () => temporaryDirectory(async (dir) => {
    const root = join(dir, 'unified');
    const leaf = join(root, 'box', 'inner');
    await mkdir(leaf, { recursive: true });
    await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    // The limit is set on the parent; the leaf says "max" and inherits it.
    await writeFile(join(root, 'box', 'memory.max'), String(512 * MiB));
    await writeFile(join(root, 'box', 'cpuset.cpus.effective'), '0-3\n');
    const files: Record<string, string> = {
      'memory.max': 'max', 'memory.current': String(100 * MiB), 'memory.swap.max': String(64 * MiB), 'memory.swap.current': String(8 * MiB),
      'memory.stat': 'anon 1000\nfile 4194304\nfile_mapped 1048576\nfile_dirty 8192\nshmem 0\nactive_anon 2097152\ninactive_anon 1048576\nactive_file 3145728\ninactive_file 1048576\nunevictable 0\n',
      'cpu.max': '150000 100000\n', 'cpuset.cpus': '\n',
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(leaf, name), text);
    const proc = join(dir, 'proc');
    await mkdir(join(proc, '42'), { recursive: true });
    await writeFile(join(proc, '42', 'cgroup'), '0::/box/inner\n');
    const hierarchies = new CgroupHierarchies(`30 20 0:26 / ${root} rw,nosuid - cgroup2 cgroup2 rw\n`, proc);
    assert.equal(hierarchies.pureUnified, true);
    const memoryDir = hierarchies.locate(42, 'memory');
    assert.deepEqual(memoryDir, { dir: leaf, root, unified: true });
    const memory = readMemory(memoryDir!)!;
    assert.deepEqual({ limit: memory.limit, usage: memory.usage, swapLimit: memory.swapLimit, swapUsage: memory.swapUsage, swappiness: memory.swappiness },
      { limit: 512 * MiB, usage: 100 * MiB, swapLimit: 64 * MiB, swapUsage: 8 * MiB, swappiness: 1 });
    assert.deepEqual([memory.stat.cache, memory.stat.mapped, memory.stat.dirty], [4194304, 1048576, 8192]);
    const host = 'MemTotal:       24000000 kB\nMemFree:        20000000 kB\nMemAvailable:   22000000 kB\nBuffers:            1000 kB\nCached:          1000000 kB\nSwapTotal:       1048576 kB\nSwapFree:        1048576 kB\nKernelStack:        3856 kB\n';
    assert.equal(cgroupMeminfo(host, memory), [
      'MemTotal:         524288 kB', 'MemFree:          421888 kB', 'MemAvailable:     425984 kB', 'Buffers:               0 kB', 'Cached:             4096 kB',
      'SwapTotal:         65536 kB', 'SwapFree:          57344 kB', 'KernelStack:        3856 kB', '',
    ].join('\n'));
    // swaps: the memory limit and the swap limit together, bounded by the host's swap.
    assert.equal(cgroupSwaps(host, memory), `Filename\t\t\t\tType\t\tSize\tUsed\tPriority\nnone${' '.repeat(36)}virtual\t\t589824\t8192\t0\n`);
    // cpuset: the leaf's own list is empty, the effective one comes from above; cpu.max gives 1.5 CPUs → 2.
    const cpuDir = hierarchies.locate(42, 'cpu')!;
    assert.equal(readCpuset(hierarchies.locate(42, 'cpuset')!), '0-3');
    assert.deepEqual(readCpuQuota(cpuDir), { quota: 150_000, period: 100_000 });
    assert.equal(readCpuTicks(cpuDir, 4), undefined, 'v2 keeps no per-CPU time');
    assert.equal(visibleCpuCount('0-3', readCpuQuota(cpuDir), 4), 2);
    await writeFile(join(leaf, 'cpu.max'), 'max 100000\n');
    assert.deepEqual(readCpuQuota(cpuDir), { quota: -1, period: 100_000 });
    assert.equal(visibleCpuCount('0-3', readCpuQuota(cpuDir), 4), 4);
  }));

  it('renders cpuinfo and stat for a cpuset: its processors only, renumbered', () => {
    const cpuinfo = [0, 1, 2].map((n) => `processor\t: ${n}\nmodel name\t: X\ncore id\t\t: ${n}\n\n`).join('');
    assert.equal(cgroupCpuinfo(cpuinfo, '1-2', 0), 'processor\t: 0\nmodel name\t: X\ncore id\t\t: 1\n\nprocessor\t: 1\nmodel name\t: X\ncore id\t\t: 2\n\n');
    assert.equal(cgroupCpuinfo(cpuinfo, '0-2', 1), 'processor\t: 0\nmodel name\t: X\ncore id\t\t: 0\n\n', 'a quota of one CPU shows one');
    const stat = 'cpu  6 0 6 6 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 2 0 2 2 0 0 0 0 0 0\ncpu2 3 0 3 3 0 0 0 0 0 0\nintr 5\nbtime 7\n';
    assert.equal(cpusetStat(stat, '0,2'), 'cpu  4 0 4 4 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 3 0 3 3 0 0 0 0 0 0\nintr 5\nbtime 7\n');
  });
});
