import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { kmxBin, sh, stopChild, withTestMount } from '@kmx/core/testing';
import { CONTROLLERS, withTestCgroup, type TestCgroup } from './helpers/cgroups.js';
import { eventually } from './helpers/proc-text.js';

const MiB = 1024 * 1024;

/** What one reader process read: its pid and the file's text. */
interface Reading {
  pid: number;
  text: string;
}

/**
 * lxcfs (the oracle) on a private mountpoint beside a kmx procsys mount with --cgroup-view;
 * `body` runs while both serve, and both are stopped and unmounted afterwards, whatever happened.
 */
async function withLxcfsAndKmx(body: (lxcfsProc: string, kmxProc: string) => Promise<void>): Promise<void> {
  await withTestMount({ args: ({ mnt }) => ['procsys', 'mount', '--cgroup-view', mnt] }, async ({ dir, mnt }) => {
    const lxcfsDir = join(dir, 'lxcfs');
    await mkdir(lxcfsDir);
    // -l: per-cgroup load averages; --enable-cfs: CPU counts from the quota (the CPU view).
    const lxcfs: ChildProcess = spawn('lxcfs', ['-f', '-l', '--enable-cfs', '-p', join(dir, 'lxcfs.pid'), lxcfsDir], { stdio: 'ignore' });
    try {
      await eventually(async () => assert.ok(existsSync(join(lxcfsDir, 'proc', 'meminfo'))), 10_000, 'lxcfs serving');
      await body(join(lxcfsDir, 'proc'), mnt);
    } finally {
      await stopChild(lxcfs);
      if ((await sh(`mountpoint -q '${lxcfsDir}'`)).code === 0) await sh(`umount -l '${lxcfsDir}'`);
    }
  });
}

/** One shell enters the cgroup; a child of it (a reader in the cgroup) reads each path in turn. */
async function readInCgroup(cgroup: TestCgroup, paths: readonly string[]): Promise<Reading[]> {
  const enter = CONTROLLERS.map((c) => `echo $$ > ${cgroup.dir(c)}/cgroup.procs`).join('; ');
  const reads = paths.map((p) => `sh -c 'echo $$; exec cat ${p}'; printf '\\001'`).join('; ');
  const r = await sh(`${enter}; ${reads}`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\x01').slice(0, paths.length).map((chunk) => {
    const newline = chunk.indexOf('\n');
    return { pid: Number(chunk.slice(0, newline)), text: chunk.slice(newline + 1) };
  });
}

function meminfoMap(text: string): Map<string, number> {
  return new Map(text.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), Number(/(\d+)/.exec(l.slice(l.indexOf(':')))?.[1] ?? 0)]));
}

const cpuLines = (stat: string): string[] => stat.split('\n').filter((l) => /^cpu\d* /.test(l));
const cpuTotals = (line: string): number[] => line.split(/\s+/).slice(1).map(Number);

describe('cgroup view against lxcfs: the same reader in the same cgroup sees the same files', () => {
  const cpu = cpus().length > 1 ? '1' : '0';

  it('meminfo, swaps, cpuinfo, stat, uptime, loadavg and diskstats, with a memory limit, a one-CPU cpuset and half a CPU of quota', () => withLxcfsAndKmx((lx, kmx) => withTestCgroup({ memoryBytes: 256 * MiB, cpus: cpu, quotaUs: 50_000 }, async (cgroup) => {
    const files = ['meminfo', 'swaps', 'cpuinfo', 'stat', 'uptime', 'loadavg', 'diskstats'];
    const readings = await readInCgroup(cgroup, files.flatMap((f) => [join(lx, f), join(kmx, f)]));
    const pair = (file: string): [Reading, Reading] => [readings[files.indexOf(file) * 2]!, readings[files.indexOf(file) * 2 + 1]!];

    // meminfo: the same lines in the same order; the limits exactly; what moves as the readers
    // run (free memory, page cache, LRU lists) within 4 MiB; the host's own lines are not compared.
    const [lm, km] = pair('meminfo').map((r) => meminfoMap(r.text)) as [Map<string, number>, Map<string, number>];
    assert.deepEqual([...km.keys()], [...lm.keys()]);
    assert.equal(km.get('MemTotal'), 256 * 1024);
    for (const key of ['MemTotal', 'SwapTotal', 'SwapFree', 'Buffers', 'SwapCached', 'Slab', 'SReclaimable', 'SUnreclaim', 'ShmemHugePages', 'ShmemPmdMapped']) assert.equal(km.get(key), lm.get(key), key);
    for (const key of ['MemFree', 'MemAvailable', 'Cached', 'Active', 'Inactive', 'Active(anon)', 'Inactive(anon)', 'Active(file)', 'Inactive(file)', 'Unevictable', 'Dirty', 'Writeback', 'AnonPages', 'Mapped', 'Shmem', 'AnonHugePages']) {
      assert.ok(Math.abs(km.get(key)! - lm.get(key)!) <= 4096, `${key}: kmx ${km.get(key)} kB, lxcfs ${lm.get(key)} kB`);
    }
    assert.equal(pair('swaps')[1].text, pair('swaps')[0].text, 'swaps');

    // cpuinfo: one processor (the cpuset), numbered 0; equal but for the clock, which moves.
    const noClock = (t: string): string => t.replace(/^cpu MHz.*$/gm, '').replace(/^bogomips.*$/gm, '');
    assert.equal(noClock(pair('cpuinfo')[1].text), noClock(pair('cpuinfo')[0].text));
    assert.equal(pair('cpuinfo')[1].text.match(/^processor/gm)?.length, 1);

    // stat: each starts following the cgroup at its first read, which shows zeros; the other
    // lines are the host's (btime equal, counters compared by name).
    const [ls, ks] = pair('stat');
    assert.deepEqual(cpuLines(ks.text), cpuLines(ls.text));
    assert.deepEqual(cpuLines(ks.text), ['cpu  0 0 0 0 0 0 0 0 0 0', 'cpu0 0 0 0 0 0 0 0 0 0 0']);
    const names = (t: string): string[] => t.split('\n').map((l) => l.split(' ')[0]!);
    assert.deepEqual(names(ks.text), names(ls.text));
    assert.equal(/^btime .*$/m.exec(ks.text)?.[0], /^btime .*$/m.exec(ls.text)?.[0]);

    // uptime: the age of this pid namespace's init, and idle time; read moments apart (0.5 s allowed).
    const [lu, ku] = pair('uptime').map((r) => r.text.trim().split(' ').map(Number)) as [number[], number[]];
    assert.ok(Math.abs(ku[0]! - lu[0]!) < 0.5 && Math.abs(ku[1]! - lu[1]!) < 0.5, `uptime: kmx ${ku}, lxcfs ${lu}`);

    // loadavg at the first read of a cgroup: zeros, and the reader itself as the last pid.
    const [ll, kl] = pair('loadavg');
    assert.equal(ll.text, `0.00 0.00 0.00 0/1 ${ll.pid}\n`);
    assert.equal(kl.text, `0.00 0.00 0.00 0/1 ${kl.pid}\n`);

    // diskstats: this kernel's blkio keeps no per-cgroup I/O statistics, so both give the host's devices.
    const devices = (t: string): string[] => t.trim().split('\n').map((l) => l.trim().split(/\s+/).slice(0, 3).join(' '));
    assert.deepEqual(devices(pair('diskstats')[1].text), devices(pair('diskstats')[0].text));

    // After CPU work in the cgroup, both count it on the one CPU shown, within 15 ticks
    // (reads a few ms apart; lxcfs and kmx each count from their own first read, made together above).
    await sh(`${CONTROLLERS.map((c) => `echo $$ > ${cgroup.dir(c)}/cgroup.procs`).join('; ')}; timeout 1.5 sh -c 'while :; do :; done'`);
    const [ls2, ks2] = await readInCgroup(cgroup, [join(lx, 'stat'), join(kmx, 'stat')]) as [Reading, Reading];
    const [lt, kt] = [cpuLines(ls2.text), cpuLines(ks2.text)];
    assert.equal(kt.length, lt.length);
    for (let i = 0; i < kt.length; i++) {
      const [a, b] = [cpuTotals(kt[i]!), cpuTotals(lt[i]!)];
      assert.ok(a[0]! > 20, `user time counted: ${kt[i]}`);
      for (const column of [0, 2, 3]) assert.ok(Math.abs(a[column]! - b[column]!) <= 15, `${kt[i]} vs lxcfs ${lt[i]}`);
    }
  })));

  it('after a refresh, loadavg counts the cgroup\'s tasks as lxcfs does', () => withLxcfsAndKmx((lx, kmx) => withTestCgroup({ memoryBytes: 256 * MiB, cpus: cpu, quotaUs: 50_000 }, async (cgroup) => {
    const sleeper = await cgroup.sleeper();
    await readInCgroup(cgroup, [join(lx, 'loadavg'), join(kmx, 'loadavg')]);
    // Both refresh every 5 s, each on its own clock: wait for two refreshes.
    await sleep(11_000);
    const [l, k] = await readInCgroup(cgroup, [join(lx, 'loadavg'), join(kmx, 'loadavg')]) as [Reading, Reading];
    const fields = (t: string): string[] => t.trim().split(' ');
    // The sleeper alone was there at both refreshes: nothing running, one task, its pid last.
    assert.deepEqual(fields(k.text), fields(l.text));
    assert.deepEqual(fields(k.text), ['0.00', '0.00', '0.00', '0/1', String(sleeper.pid)]);
  })));

  it('kmx procsys run shows the cgroup by default, the host with --no-cgroup-view', () => withTestCgroup({ memoryBytes: 256 * MiB, cpus: cpu, quotaUs: 50_000 }, async (cgroup) => {
    const enter = CONTROLLERS.map((c) => `echo $$ > ${cgroup.dir(c)}/cgroup.procs`).join('; ');
    const free = async (flags: string): Promise<string> => {
      const r = await sh(`${enter}; '${process.execPath}' '${kmxBin()}' procsys run ${flags} -- sh -c "free -m | awk '/^Mem:/ {print \\$2}'; grep -c ^processor /proc/cpuinfo"`);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.equal(await free(''), '256\n1\n');
    const host = await sh("free -m | awk '/^Mem:/ {print $2}'; grep -c ^processor /proc/cpuinfo");
    assert.equal(await free('--no-cgroup-view'), host.stdout);
  }));
});
