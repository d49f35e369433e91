import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { kmxBin, withKmxMount } from './lib/kmx.js';
import { alternate, median, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { runIfMain } from './lib/workdir.js';

export const name = 'kmx procsys';
export const peer = 'lxcfs (or /proc itself)';

const READS = 2000;
const ROUNDS = 3;
const AGENTS = 50;
const MERGED_READS = 200;
const REFRESHES = 10;

/** µs per `readFileSync(path)`, over READS reads. */
function perRead(path: string): number {
  readFileSync(path);
  const start = performance.now();
  for (let i = 0; i < READS; i++) readFileSync(path);
  return ((performance.now() - start) * 1000) / READS;
}

function waitFor(check: () => boolean, what: string, ms = 60_000): void {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up`);
    spawnSync('sleep', ['0.1']);
  }
}

/** lxcfs in the foreground, as its own child; stopped by unmounting, then by pid. */
function startLxcfs(work: string): { dir: string; stop: () => void } {
  const dir = join(work, 'lxcfs');
  mkdirSync(dir, { recursive: true });
  const child = spawn('lxcfs', ['-f', '-l', '-p', join(work, 'lxcfs.pid'), dir], { stdio: 'ignore' });
  waitFor(() => existsSync(join(dir, 'proc/meminfo')), 'lxcfs', 20_000);
  return {
    dir,
    stop: () => {
      spawnSync('fusermount3', ['-u', dir]);
      child.kill('SIGTERM');
    },
  };
}

/** Latencies (ms) of `count` reads of `path`, one after another. */
function latencies(path: string, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    readFileSync(path);
    out.push(performance.now() - start);
  }
  return out;
}

const percentile = (values: readonly number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? 0;

/** Shell time of one command run `times` times inside `kmx procsys run --mount mnt`, in ms per run (kmx's start excluded). */
function timedInView(mnt: string | undefined, command: string, times: number): number {
  const script = `s=$(date +%s%N); for i in $(seq ${times}); do ${command} > /dev/null 2>&1; done; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`;
  const out = mnt
    ? spawnSync(process.execPath, [kmxBin(), 'procsys', 'run', '--mount', mnt, '--', 'sh', '-c', script], { encoding: 'utf8' })
    : spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${command}: ${out.stderr}`);
  return Number(out.stdout.trim()) / 1000 / times;
}

export async function run(work: string): Promise<BenchResult[]> {
  const mnt = join(work, 'mnt');
  mkdirSync(mnt, { recursive: true });
  const results: BenchResult[] = [];
  const engine = process.env.KMX_FUSE_ENGINE;
  const env = engine ? { KMX_FUSE_ENGINE: engine } : {};
  const lxcfs = startLxcfs(work);
  try {
    withKmxMount(['procsys', 'mount', mnt], mnt, () => {
      for (const file of ['meminfo', 'stat']) {
        const t = alternate(['kmx', 'lxcfs', 'proc'], ROUNDS, (w) => perRead(w === 'kmx' ? join(mnt, file) : w === 'lxcfs' ? join(lxcfs.dir, 'proc', file) : `/proc/${file}`));
        results.push(result(`read ${file} (µs per read)`, t.kmx, t.lxcfs, 'µs', `/proc itself: ${t.proc.toFixed(1)} µs`));
      }
      const dev = alternate(['kmx', 'proc'], ROUNDS, (w) => perRead(w === 'kmx' ? join(mnt, 'net/dev') : '/proc/net/dev'));
      results.push(result('read net/dev (µs per read; lxcfs has none: peer is /proc)', dev.kmx, dev.proc, 'µs'));
      const find = alternate(['kmx', 'proc'], ROUNDS, (w) => timeShell(`find '${w === 'kmx' ? mnt : '/proc'}' -maxdepth 3 > /dev/null 2>&1; true`));
      results.push(result('find -maxdepth 3 (peer is /proc)', find.kmx * 1000, find.proc * 1000, 'ms'));
      const ps = alternate(['kmx', 'proc'], ROUNDS, (w) => timedInView(w === 'kmx' ? mnt : undefined, 'ps aux', 20));
      results.push(result('ps aux (peer is /proc)', ps.kmx, ps.proc, 'ms'));
      const free = alternate(['kmx', 'lxcfs'], ROUNDS, (w) => (w === 'kmx' ? timedInView(mnt, 'free', 50)
        : timedInView(undefined, `unshare -m --propagation private sh -c 'mount --bind ${lxcfs.dir}/proc/meminfo /proc/meminfo && free'`, 50) - timedInView(undefined, 'unshare -m --propagation private true', 50)));
      results.push(result('free (ms per run)', free.kmx, free.lxcfs, 'ms', 'lxcfs: its meminfo bound over /proc/meminfo'));
    }, env);
  } finally {
    lxcfs.stop();
  }
  try {
    results.push(...(await mergedReads(work, env)));
  } catch (err) {
    // The single-host figures above stand on their own.
    process.stderr.write(`bench: merged reads failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
  }
  try {
    results.push(...(await scaling(work, env)));
  } catch (err) {
    process.stderr.write(`bench: scaling failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
  }
  return results;
}

/** Agents per farm process: the farms spread over the cores. */
const FARM_SIZE = 50;

/** Starts `count` agents in farm processes (see startAgentFarm); resolves to their --peer flags and a stop. */
async function startFarms(count: number): Promise<{ peers: string[]; stop: () => Promise<void> }> {
  const farmMain = new URL('./lib/agent-farm-main.js', import.meta.url).pathname;
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((resolve) => c.once('exit', resolve)) : undefined)));
  };
  try {
    const lists = await Promise.all(Array.from({ length: Math.ceil(count / FARM_SIZE) }, (_, f) => new Promise<{ name: string; address: string }[]>((resolve, reject) => {
      const child = spawn(process.execPath, [farmMain, String(Math.min(FARM_SIZE, count - f * FARM_SIZE)), `f${f}x`], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as { name: string; address: string }[]);
      });
      child.once('exit', (code) => reject(new Error(`an agent farm exited (${code ?? 'signal'})`)));
    })));
    return { peers: lists.flat().flatMap((a) => ['--peer', `${a.name}=${a.address}`]), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * How `ps aux` and the mount's memory grow with the hosts merged: agents in farm processes
 * (KMX_BENCH_PROCSYS_SCALE, a comma-separated list of sizes; default 50,100,200). A farm
 * shares one reader, so these figures are the view's cost, not the agents'.
 */
async function scaling(work: string, env: NodeJS.ProcessEnv): Promise<BenchResult[]> {
  const sizes = (process.env.KMX_BENCH_PROCSYS_SCALE ?? '50,100,200').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const out: BenchResult[] = [];
  for (const size of sizes) {
    const farms = await startFarms(size);
    try {
      const mnt = join(work, `scale-${size}`);
      mkdirSync(mnt, { recursive: true });
      withKmxMount(['procsys', 'mount', '--insecure', '--name', 'bench', '--timeout', '10000', ...farms.peers, mnt], mnt, () => {
        process.stderr.write(`bench: ${size} farm agents\n`);
        timedInView(mnt, 'ps aux', 1);
        const ps = timedInView(mnt, 'ps aux', 2);
        const lines = processLines(mnt);
        out.push(result(`ps aux over ${size} farm agents + this host (ms per run)`, ps, timedInView(undefined, 'ps aux', 2), 'ms', `peer: ps aux of this host alone; ${lines} lines; ${(ps / lines * 1000).toFixed(0)} µs a line`));
        out.push(result(`memory of the mounting process, ${size} farm agents (MB)`, mountRssMb(mnt), 300, 'MB', 'after the runs above; peer column is the goal at 200 agents'));
      }, env);
    } finally {
      await farms.stop();
    }
  }
  return out;
}

/** Lines of `ps aux` in the view (processes of every host, and the header). */
function processLines(mnt: string): number {
  const out = spawnSync(process.execPath, [kmxBin(), 'procsys', 'run', '--mount', mnt, '--', 'ps', 'aux'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return out.stdout.split('\n').filter(Boolean).length;
}

/** CPU ticks (user + system) of a process and its children, from /proc. */
function cpuTicks(pid: number): number {
  let ticks = 0;
  const children = (() => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  })();
  for (const p of [pid, ...children]) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks;
}

/** `ps aux` once a second in the view, `count` times: each agent's CPU (with its reader) in % of one CPU. */
function agentCpuDuringRefreshes(mnt: string, agents: readonly ChildProcess[], count: number): { busiest: number; mean: number; refreshMs: number } {
  const before = agents.map((a) => cpuTicks(a.pid!));
  const started = performance.now();
  const script = `for i in $(seq ${count}); do ps aux > /dev/null 2>&1; sleep 1; done`;
  spawnSync(process.execPath, [kmxBin(), 'procsys', 'run', '--mount', mnt, '--', 'sh', '-c', script], { stdio: 'ignore' });
  const seconds = (performance.now() - started) / 1000;
  const percents = agents.map((a, i) => ((cpuTicks(a.pid!) - before[i]!) / 100 / seconds) * 100);
  return { busiest: Math.max(...percents), mean: percents.reduce((x, y) => x + y, 0) / percents.length, refreshMs: (seconds * 1000) / count - 1000 };
}

/** Resident memory (MB) of the process serving the mount on `mnt`. */
function mountRssMb(mnt: string): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (!cmdline.includes(mnt) || !cmdline.includes('mount')) continue;
      const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'));
      if (rss) return Number(rss[1]) / 1024;
    } catch {
      // gone
    }
  }
  return Number.NaN;
}

/** A merged read with AGENTS agents on loopback: p50 and p95, without and with the cache. */
async function mergedReads(work: string, env: NodeJS.ProcessEnv): Promise<BenchResult[]> {
  const children: ChildProcess[] = [];
  const outputs: string[] = [];
  try {
    // Started ten at a time: fifty Node processes starting at once swamp two cores.
    for (let i = 0; i < AGENTS; i++) {
      const child = spawn(process.execPath, [kmxBin(), 'procsys', 'serve', '--insecure', '--listen', '127.0.0.1:0', '--name', `h${i}`], { stdio: ['ignore', 'pipe', 'ignore'] });
      outputs.push('');
      child.stdout?.on('data', (d: Buffer) => (outputs[i] += d.toString()));
      children.push(child);
      if (i % 10 === 9 || i === AGENTS - 1) {
        const deadline = Date.now() + 120_000;
        while (outputs.some((o) => !/on 127\.0\.0\.1:\d+/.test(o))) {
          if (Date.now() > deadline) throw new Error('the agents did not start');
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }
    process.stderr.write(`bench: ${AGENTS} agents up\n`);
    const peers = outputs.flatMap((o, i) => ['--peer', `h${i}=${/on (127\.0\.0\.1:\d+)/.exec(o)![1]}`]);
    const out: BenchResult[] = [];
    for (const ttl of [0, 1000]) {
      const mnt = join(work, `merged-${ttl}`);
      mkdirSync(mnt, { recursive: true });
      withKmxMount(['procsys', 'mount', '--insecure', '--name', 'bench', '--timeout', '5000', '--cache-ttl', String(ttl), ...peers, mnt], mnt, () => {
        process.stderr.write(`bench: merged view, cache ${ttl} ms\n`);
        const single = median(latencies('/proc/meminfo', 50));
        const times = latencies(join(mnt, 'meminfo'), MERGED_READS);
        const note = `cache ${ttl ? `${ttl} ms` : 'off'}; peer column is the issue's goal (50 ms); /proc itself ${single.toFixed(3)} ms`;
        out.push(result(`merged meminfo, ${AGENTS} agents + this host, p50`, percentile(times, 50), 50, 'ms', note));
        out.push(result(`merged meminfo, ${AGENTS} agents + this host, p95`, percentile(times, 95), 50, 'ms', note));
        if (ttl === 1000) {
          const ps = timedInView(mnt, 'ps aux', 2);
          const lines = processLines(mnt);
          out.push(result(`ps aux over ${AGENTS + 1} hosts (ms per run)`, ps, timedInView(undefined, 'ps aux', 2), 'ms', `peer: ps aux of this host alone; ${lines} lines; goal 100x`));
          const top = timedInView(mnt, 'top -b -n 1', 2);
          out.push(result(`top -b -n 1 over ${AGENTS + 1} hosts (ms per run)`, top, timedInView(undefined, 'top -b -n 1', 2), 'ms', 'peer: top -b -n 1 of this host alone'));
          const cpu = agentCpuDuringRefreshes(mnt, children, REFRESHES);
          out.push(result(`agent CPU, ps aux every second over ${AGENTS + 1} hosts (% of a CPU, busiest agent)`, cpu.busiest, 5, '%', `mean ${cpu.mean.toFixed(2)} %; ${REFRESHES} refreshes, each ${cpu.refreshMs.toFixed(0)} ms; agent and its reader; peer column is the goal`));
          out.push(result(`memory of the mounting process, ${AGENTS} agents (MB)`, mountRssMb(mnt), 300, 'MB', 'after the runs above; peer column is the goal at 200 agents'));
        }
      }, env);
    }
    return out;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((resolve) => c.once('exit', resolve)) : undefined)));
  }
}

await runIfMain(import.meta.url, 'procsys', run);
