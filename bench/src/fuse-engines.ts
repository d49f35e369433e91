// FUSE engines: libfuse3 (kmx's low-level engine) against fuse-native, and both against the
// native directory, in one run. `node bench/dist/src/fuse-engines.js` runs it alone.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { mountFilesystem, unmountPath, type Attr, type FileSystem } from '@kmx/core';
import { mountsUnder, stopChild } from '@kmx/core/testing';
import { kmx } from './lib/kmx.js';
import { alternateAsync, dropCaches, loadAverage, median, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { BENCH_DIR } from './lib/workdir.js';

export const name = 'FUSE engines (libfuse3)';
export const peer = 'fuse-native, native directory';

type Target = 'libfuse3' | 'fuse-native' | 'native';
const TARGETS: readonly Target[] = ['libfuse3', 'fuse-native', 'native'];
const ROUNDS = 3;
const MIB = 512;
const STATS = 30_000;
const PYTHON = '/usr/bin/python3';

// ---- the null filesystem: request round trip ----

const epoch = { sec: 1_700_000_000, nsec: 0 };
const nullFs: FileSystem = {
  getattr: (path): Attr => ({ mode: path === '/' ? 0o40755 : 0o100644, nlink: 1, uid: 0, gid: 0, size: 0, atime: epoch, mtime: epoch, ctime: epoch }),
};

/** A child process stats one file `count` times (LOOKUP + GETATTR each, timeouts 0); µs per stat. */
function statLoop(file: string, count: number): Promise<number> {
  const script = `import os, time\nt = time.perf_counter()\nfor _ in range(${count}): os.stat(${JSON.stringify(file)})\nprint((time.perf_counter() - t) / ${count} * 1e6)`;
  return new Promise((resolve, reject) => {
    // Asynchronous: with the null filesystem served by this very process, a synchronous wait would deadlock.
    const child = spawn(PYTHON, ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`stat loop exited with ${code}`))));
  });
}

type NullTarget = Target | 'C';

/** bench/native/null-ll.c built into `work`: the same null filesystem in C, the machine's floor. */
function buildNullInC(work: string): string {
  const source = join(BENCH_DIR, 'native', 'null-ll.c');
  const binary = join(work, 'null-ll');
  execFileSync('/bin/sh', ['-c', `cc -O2 -o '${binary}' '${source}' $(pkg-config --cflags --libs fuse3)`], { stdio: ['ignore', 'ignore', 'inherit'] });
  return binary;
}

/** Runs `binary MNT` (a foreground FUSE server) for `body`, then stops it by pid (SIGTERM unmounts). */
async function withServer<T>(binary: string, mnt: string, body: () => Promise<T>): Promise<T> {
  const child = spawn(binary, [mnt], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; !(await mountsUnder(mnt)).includes(mnt); i++) {
      if (child.exitCode !== null || i > 500) throw new Error(`${binary} did not mount ${mnt}`);
      await sleep(10);
    }
    return await body();
  } finally {
    await stopChild(child);
  }
}

async function nullRoundTrip(work: string): Promise<Record<NullTarget, number>> {
  const mnt = join(work, 'null');
  mkdirSync(mnt, { recursive: true });
  writeFileSync(join(work, 'native-file'), '');
  const inC = buildNullInC(work);
  const loop = async (): Promise<number> => {
    await statLoop(join(mnt, 'f'), 2000); // warm-up
    return statLoop(join(mnt, 'f'), STATS);
  };
  return alternateAsync<NullTarget>([...TARGETS, 'C'], ROUNDS, async (t) => {
    if (t === 'native') return statLoop(join(work, 'native-file'), STATS);
    if (t === 'C') return withServer(inC, mnt, loop);
    const mount = await mountFilesystem({ filesystem: nullFs, mountpoint: mnt, plugin: 'bench-null', source: 'null', engine: t, options: { attrTimeout: 0, entryTimeout: 0 } });
    try {
      return await loop();
    } finally {
      await mount.unmount();
    }
  });
}

// ---- kmx passthrough ----

/** Runs `body` with `dir` served by `kmx passthrough` on `mnt` (a daemon: separate process), or on `dir` itself for native. */
function onTarget<T>(t: Target, dir: string, mnt: string, body: (path: string) => T, options: readonly string[] = []): T {
  if (t === 'native') return body(dir);
  kmx(['passthrough', '--daemon', '--fuse-engine', t, ...options, dir, mnt]);
  try {
    return body(mnt);
  } finally {
    try {
      kmx(['umount', mnt]);
    } catch {
      kmx(['umount', '--lazy', mnt]);
    }
  }
}

/** Whatever happened, nothing stays mounted below `dir` (removing it would reach through a mount). */
async function unmountUnder(dir: string): Promise<void> {
  for (const mountpoint of await mountsUnder(dir)) await unmountPath(mountpoint, { lazy: true }).catch(() => undefined);
}

interface Fixtures {
  random: string;
  tree: string;
  tar: string;
}

function makeFixtures(work: string, shm: string): Fixtures {
  const random = join(shm, `random-${MIB}M`);
  execFileSync('/bin/sh', ['-c', `head -c ${MIB * 1048576} /dev/urandom > '${random}'`]);
  // 20 directories × 100 files × 1 KiB, as in the anchors' find+stat workload.
  const tree = join(work, 'tree-src');
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(tree, 'tree', `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(tree, 'tree', `d${d}`, `f${f}`), Buffer.alloc(1024, f));
  }
  const tar = join(shm, 'linux-headers.tar');
  execFileSync('tar', ['-C', '/usr/include', '-cf', tar, 'linux']);
  return { random, tree, tar };
}

async function passthrough(work: string, fx: Fixtures): Promise<BenchResult[]> {
  const dirs = Object.fromEntries(TARGETS.map((t) => [t, join(work, `data-${t}`)])) as Record<Target, string>;
  const mnt = join(work, 'mnt');
  for (const dir of [...Object.values(dirs), mnt]) mkdirSync(dir, { recursive: true });

  const write = await alternateAsync(TARGETS, ROUNDS, (t) => {
    rmSync(join(dirs[t], 'big'), { force: true });
    dropCaches();
    return onTarget(t, dirs[t], mnt, (p) => timeShell(`dd if='${fx.random}' of='${p}/big' bs=1M conv=fsync status=none`));
  });
  const coldRead = await alternateAsync(TARGETS, ROUNDS, (t) => onTarget(t, dirs[t], mnt, (p) => {
    dropCaches();
    return timeShell(`dd if='${p}/big' of=/dev/null bs=1M status=none`);
  }));
  const warmRead = await alternateAsync(TARGETS, ROUNDS, (t) => onTarget(t, dirs[t], mnt, (p) => {
    timeShell(`cat '${dirs[t]}/big' > /dev/null`); // the backing file in the page cache: the engine is what is measured
    return timeShell(`dd if='${p}/big' of=/dev/null bs=1M status=none`);
  }));
  for (const dir of Object.values(dirs)) rmSync(join(dir, 'big'), { force: true });

  // find+stat: the tree cached on the backing side (stat'ed there first), a fresh mount; with
  // passthrough's default timeouts of 0 (4 requests per file on either engine), and with 1 s
  // (where READDIRPLUS answers the stats from the listing). Each mount is walked twice: fresh
  // (kernel caches empty, the server's code not yet compiled), then again once the 1 s timeouts
  // have run out (the steady state of a long-running mount).
  const walkWith = async (options: readonly string[]): Promise<[Record<Target, number>, Record<Target, number>]> => {
    const again = new Map<Target, number[]>(TARGETS.map((t) => [t, []]));
    const walk = (p: string): number => timeShell(`find '${p}/tree' -type f -print0 | xargs -0 stat -c '%s %Y %n' > /dev/null`);
    const fresh = await alternateAsync(TARGETS, ROUNDS, (t) => {
      timeShell(`find '${fx.tree}' -type f -print0 | xargs -0 stat -c '%s' > /dev/null`);
      return onTarget(t, fx.tree, mnt, (p) => {
        const first = walk(p);
        timeShell('sleep 1.2');
        again.get(t)!.push(walk(p));
        return first;
      }, options);
    });
    return [fresh, Object.fromEntries(TARGETS.map((t) => [t, median(again.get(t)!)])) as Record<Target, number>];
  };
  const [walk, walkAgain] = await walkWith([]);
  const [cachedWalk, cachedWalkAgain] = await walkWith(['-o', 'attr_timeout=1,entry_timeout=1']);
  const untar = await alternateAsync(TARGETS, ROUNDS, (t) => {
    rmSync(join(dirs[t], 'linux'), { recursive: true, force: true });
    return onTarget(t, dirs[t], mnt, (p) => timeShell(`tar -xf '${fx.tar}' -C '${p}'`));
  });

  const rows: BenchResult[] = [];
  const add = (workload: string, unit: string, values: Record<Target, number>, note?: string): void => {
    rows.push(result(`${workload} — libfuse3 vs fuse-native`, values.libfuse3, values['fuse-native'], unit, note));
    rows.push(result(`${workload} — libfuse3 vs native`, values.libfuse3, values.native, unit, note));
  };
  const rate = (seconds: Record<Target, number>): Record<Target, number> =>
    Object.fromEntries(TARGETS.map((t) => [t, MIB / seconds[t]])) as Record<Target, number>;
  const ms = (seconds: Record<Target, number>): Record<Target, number> =>
    Object.fromEntries(TARGETS.map((t) => [t, seconds[t] * 1000])) as Record<Target, number>;
  add(`passthrough seq write ${MIB} MiB (dd bs=1M, fsync)`, 'MiB/s', rate(write));
  add(`passthrough seq read ${MIB} MiB, cold (caches dropped)`, 'MiB/s', rate(coldRead));
  add(`passthrough seq read ${MIB} MiB, backing file cached`, 'MiB/s', rate(warmRead));
  add('passthrough find+stat 2,000 files, fresh mount, timeouts 0', 'ms', ms(walk));
  add('passthrough find+stat 2,000 files, second walk, timeouts 0', 'ms', ms(walkAgain));
  add('passthrough find+stat 2,000 files, fresh mount, timeouts 1 s', 'ms', ms(cachedWalk));
  add('passthrough find+stat 2,000 files, second walk, timeouts 1 s', 'ms', ms(cachedWalkAgain));
  add('passthrough untar /usr/include/linux', 'ms', ms(untar), `${execFileSync('/bin/sh', ['-c', `tar -tf '${fx.tar}' | wc -l`]).toString().trim()} entries`);
  return rows;
}

/** Every workload; `work` is a scratch directory on the disk under test (default: a new one in $TMPDIR). */
export async function run(work?: string): Promise<BenchResult[]> {
  const dir = work ?? mkdtempSync(join(tmpdir(), 'kmx-bench-fuse-'));
  const shm = mkdtempSync('/dev/shm/kmx-bench-fuse-');
  const loadBefore = loadAverage();
  try {
    const nullStat = await nullRoundTrip(dir);
    const rows: BenchResult[] = [
      result('null filesystem stat (LOOKUP+GETATTR, timeouts 0) — libfuse3 vs fuse-native', nullStat.libfuse3, nullStat['fuse-native'], 'µs/stat'),
      result('null filesystem stat — libfuse3 vs native', nullStat.libfuse3, nullStat.native, 'µs/stat'),
      result('null filesystem, per request — libfuse3 vs fuse-native', nullStat.libfuse3 / 2, nullStat['fuse-native'] / 2, 'µs/request', 'goal ≤ 15 µs'),
      result('null filesystem stat — libfuse3 vs the same filesystem in C on libfuse3', nullStat.libfuse3, nullStat.C, 'µs/stat', 'the C figure is the floor on this machine'),
    ];
    rows.push(...(await passthrough(dir, makeFixtures(dir, shm))));
    const note = `load ${loadBefore} → ${loadAverage()}`;
    return rows.map((r) => ({ ...r, note: r.note ? `${r.note}; ${note}` : note }));
  } finally {
    await unmountUnder(dir);
    rmSync(shm, { recursive: true, force: true });
    if (!work && (await mountsUnder(dir)).length === 0) rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run();
  const table = [['workload', 'libfuse3', 'peer', 'unit', 'kmx/peer'], ...rows.map((r) => [r.workload, String(r.kmx), String(r.peer), r.unit, String(r.ratio)])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
  console.log(`\n${rows[0]?.note ?? ''}`);
}
