import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it, type TestContext } from 'node:test';
import { bootVm, kmxBin, prepareVmImage, vmUnavailable, VmImageUnavailable, type VmRun } from '@kmx/core/testing';
import type { Reading } from './vm/cgroup-v2-guest.js';

/**
 * The cgroup view on cgroup v2 for real: this host has no v2 controllers, so a Debian kernel
 * boots under QEMU (TCG) with cgroup v2 alone (cgroup_no_v1=all) and runs lxcfs (the oracle,
 * the host's binary) and kmx procsys mount --cgroup-view side by side; a reader in a cgroup
 * with memory.max 256M, cpuset.cpus 0 and cpu.max "50000 100000" reads both (vm/cgroup-v2-guest.ts),
 * and the values the v1 oracle test compares are compared here, with the same tolerances.
 */

interface GuestResult {
  kernel: string;
  error?: string;
  setup: { cgroupMount: string[]; controllers: string; memoryMax: string; cpusetEffective: string; cpuMax: string; readerCgroup: string; onlineCpus: string };
  first: Reading[];
  statBracketed: [Reading, Reading, Reading];
  statAfterWork: [Reading, Reading, Reading];
  /** One per attempt, the last one to be checked (see the guest). */
  loadavg: Array<{ sleeperPid: number; afterRefresh: [Reading, Reading] }>;
  run: { code: number | null; out: string; err: string };
  kmxOutput: string[];
  lxcfsOutput: string[];
}

const MiB = 1024 * 1024;
const FILES = ['meminfo', 'swaps', 'cpuinfo', 'stat', 'uptime', 'loadavg'];
const guest = fileURLToPath(new URL('./vm/cgroup-v2-guest.js', import.meta.url));

function meminfoMap(text: string): Map<string, number> {
  return new Map(text.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), Number(/(\d+)/.exec(l.slice(l.indexOf(':')))?.[1] ?? 0)]));
}
const cpuLines = (stat: string): string[] => stat.split('\n').filter((l) => /^cpu\d* /.test(l));
const cpuTotals = (line: string): number[] => line.split(/\s+/).slice(1).map(Number);

describe('cgroup v2 view against lxcfs, in a VM (memory.max 256M, cpuset.cpus 0, cpu.max 50000 100000)', () => {
  let skipReason: string | undefined;
  let vm: VmRun | undefined;
  let result: GuestResult | undefined;
  const started = Date.now();

  before(async () => {
    skipReason = vmUnavailable();
    if (skipReason) return;
    let image;
    try {
      image = prepareVmImage({ modules: ['fuse'] });
    } catch (err) {
      if (!(err instanceof VmImageUnavailable)) throw err;
      skipReason = err.message;
      return;
    }
    vm = await bootVm({
      image, guest, checkout: resolve(dirname(guest), '../../../../..'), env: { KMXVM_KMX: kmxBin() },
      kernelArgs: ['cgroup_no_v1=all'], timeoutMs: 600_000,
    });
    result = vm.result as GuestResult | undefined;
  }, { timeout: 1_300_000 });

  /** The guest's result, or a skip when no VM can boot here. */
  function guestResult(t: TestContext): GuestResult | undefined {
    if (skipReason) {
      t.skip(`no VM: ${skipReason}`);
      return undefined;
    }
    assert.ok(result, `no result from the VM:\n${vm?.output.slice(-4000)}`);
    assert.equal(result.error, undefined, `the guest failed: ${result.error}\nkmx: ${result.kmxOutput?.join('\n')}\nlxcfs: ${result.lxcfsOutput?.join('\n')}`);
    return result;
  }
  const pair = (r: GuestResult, file: string): [Reading, Reading] => [r.first[FILES.indexOf(file) * 2]!, r.first[FILES.indexOf(file) * 2 + 1]!];

  it('the guest has cgroup v2 alone, with the controllers and limits asked for, and the reader in that cgroup', (t) => {
    const r = guestResult(t);
    if (!r) return;
    t.diagnostic(`VM run (boot to power-off, with the image) took ${((Date.now() - started) / 1000).toFixed(1)} s; ${r.kernel}`);
    assert.deepEqual(r.setup.cgroupMount.map((l) => l.split(' ').slice(4, 5).concat(l.split(' - ')[1]!.split(' ')[0]!)), [['/sys/fs/cgroup', 'cgroup2']]);
    for (const c of ['cpuset', 'cpu', 'memory']) assert.ok(r.setup.controllers.split(' ').includes(c), r.setup.controllers);
    assert.deepEqual([r.setup.memoryMax, r.setup.cpusetEffective, r.setup.cpuMax], [String(256 * MiB), '0', '50000 100000']);
    assert.equal(r.setup.readerCgroup, '0::/kmxt-v2');
  });

  // The same lines in the same order; the limit exactly; what moves as the readers run within
  // 4 MiB. lxcfs 5.0.3 on v2 reads no Dirty or Writeback and matches memory.stat's file_mapped
  // by prefix (docs/procsys.md): those lines are compared within the same 4 MiB.
  it('meminfo', (t) => {
    const r = guestResult(t);
    if (!r) return;
    const [lm, km] = pair(r, 'meminfo').map((x) => meminfoMap(x.text)) as [Map<string, number>, Map<string, number>];
    assert.deepEqual([...km.keys()], [...lm.keys()]);
    assert.equal(km.get('MemTotal'), 256 * 1024);
    for (const key of ['MemTotal', 'SwapTotal', 'SwapFree', 'Buffers', 'SwapCached', 'Slab', 'SReclaimable', 'SUnreclaim', 'ShmemHugePages', 'ShmemPmdMapped']) assert.equal(km.get(key), lm.get(key), key);
    for (const key of ['MemFree', 'MemAvailable', 'Cached', 'Active', 'Inactive', 'Active(anon)', 'Inactive(anon)', 'Active(file)', 'Inactive(file)', 'Unevictable', 'Dirty', 'Writeback', 'AnonPages', 'Mapped', 'Shmem', 'AnonHugePages']) {
      assert.ok(Math.abs(km.get(key)! - lm.get(key)!) <= 4096, `${key}: kmx ${km.get(key)} kB, lxcfs ${lm.get(key)} kB`);
    }
  });

  it('swaps', (t) => {
    const r = guestResult(t);
    if (!r) return;
    assert.equal(pair(r, 'swaps')[1].text, pair(r, 'swaps')[0].text);
  });

  it('cpuinfo: one processor (the cpuset), numbered 0; equal but for the clock, which moves', (t) => {
    const r = guestResult(t);
    if (!r) return;
    const noClock = (text: string): string => text.replace(/^cpu MHz.*$/gm, '').replace(/^bogomips.*$/gm, '');
    assert.equal(noClock(pair(r, 'cpuinfo')[1].text), noClock(pair(r, 'cpuinfo')[0].text));
    assert.equal(pair(r, 'cpuinfo')[1].text.match(/^processor/gm)?.length, 1);
  });

  // v2 keeps no per-CPU time: both show the host's lines of the cpuset's CPU, renumbered, which
  // move between reads (and reads are slow under TCG). So lxcfs is read before and after kmx, and
  // kmx's user, system and idle must lie between the two, with the v1 test's 15 ticks to spare.
  it('stat: the same lines; btime equal; cpu counters between lxcfs\'s before and after, at first and after CPU work', (t) => {
    const r = guestResult(t);
    if (!r) return;
    const [ls, ks] = pair(r, 'stat');
    const names = (text: string): string[] => text.split('\n').map((l) => l.split(' ')[0]!);
    assert.deepEqual(names(ks.text), names(ls.text));
    assert.equal(/^btime .*$/m.exec(ks.text)?.[0], /^btime .*$/m.exec(ls.text)?.[0]);
    for (const [before, kmx, after] of [r.statBracketed, r.statAfterWork]) {
      const [bt, kt, at] = [cpuLines(before.text), cpuLines(kmx.text), cpuLines(after.text)];
      assert.deepEqual(kt.map((l) => l.split(' ')[0]), ['cpu', 'cpu0']);
      assert.deepEqual(bt.map((l) => l.split(' ')[0]), ['cpu', 'cpu0']);
      const timing = `(read at ${before.at}, ${kmx.at}, ${after.at} s of uptime)`;
      for (let i = 0; i < kt.length; i++) {
        const [b, k, a] = [cpuTotals(bt[i]!), cpuTotals(kt[i]!), cpuTotals(at[i]!)];
        for (const column of [0, 2, 3]) {
          assert.ok(b[column]! - 15 <= k[column]! && k[column]! <= a[column]! + 15, `kmx ${kt[i]} not between lxcfs ${bt[i]} and ${at[i]} ${timing}`);
        }
      }
    }
    // The CPU work ran on the cpuset's one CPU: its user time shows.
    assert.ok(cpuTotals(cpuLines(r.statAfterWork[1].text)[1]!)[0]! > cpuTotals(cpuLines(r.statBracketed[2].text)[1]!)[0]! + 20, 'user time counted');
  });

  // Reads under TCG are up to a second apart, not moments: each reader takes the guest's uptime
  // as it starts, and the two files must differ by that gap, give or take the v1 test's 0.5 s.
  it('uptime: the age of this pid namespace\'s init, and idle time, as far apart as the reads', (t) => {
    const r = guestResult(t);
    if (!r) return;
    const [lr, kr] = pair(r, 'uptime');
    const [lu, ku] = [lr, kr].map((x) => x.text.trim().split(' ').map(Number)) as [number[], number[]];
    const gap = kr.at - lr.at;
    assert.ok(Math.abs(ku[0]! - lu[0]! - gap) < 0.5 && Math.abs(ku[1]! - lu[1]! - gap) < 0.5, `uptime: kmx ${ku}, lxcfs ${lu}, read ${gap.toFixed(2)} s later`);
  });

  it('loadavg: zeros and the reader at the first read; after two refreshes the sleeper alone', (t) => {
    const r = guestResult(t);
    if (!r) return;
    const [ll, kl] = pair(r, 'loadavg');
    assert.equal(ll.text, `0.00 0.00 0.00 0/1 ${ll.pid}\n`);
    assert.equal(kl.text, `0.00 0.00 0.00 0/1 ${kl.pid}\n`);
    const last = r.loadavg.at(-1)!;
    const [l, k] = last.afterRefresh;
    const attempts = `attempts: ${JSON.stringify(r.loadavg.map((a) => a.afterRefresh.map((x) => x.text.trim())))}`;
    assert.deepEqual(k.text.trim().split(' '), l.text.trim().split(' '), attempts);
    assert.deepEqual(k.text.trim().split(' '), ['0.00', '0.00', '0.00', '0/1', String(last.sleeperPid)], attempts);
  });

  it('kmx procsys run in the cgroup: free -m says 256, cpuinfo one processor', (t) => {
    const r = guestResult(t);
    if (!r) return;
    assert.equal(r.run.code, 0, r.run.err);
    assert.equal(r.run.out, '256\n1\n');
  });
});
