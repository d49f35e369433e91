// Runs inside the VM (root; the host's root read-only as /, tmpfs /run /tmp /home; no cgroup
// mounted yet): mounts cgroup v2 with the memory, cpu and cpuset controllers, makes a cgroup
// limited to 256 MiB, CPU 0 and half a CPU, serves /proc from lxcfs and from kmx procsys
// mount --cgroup-view, and lets readers in that cgroup read both. Prints one line
// `KMXVM-RESULT {json}` of what they read, for the host to compare (cgroup-v2.vm.test.ts).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const kmx = process.env.KMXVM_KMX ?? '';
const cgroup = '/sys/fs/cgroup/kmxt-v2';
// loadavg after refreshes is read in a cgroup of its own, where no CPU work ran.
/** Fresh cgroups for the loadavg check, one per attempt (see below). */
const loadCgroups = ['/sys/fs/cgroup/kmxt-v2-load', '/sys/fs/cgroup/kmxt-v2-load-2', '/sys/fs/cgroup/kmxt-v2-load-3'];
const lxcfsDir = '/tmp/lxcfs';
const kmxDir = '/tmp/kmxproc';
const enterCgroup = (dir: string): string => `echo $$ > ${dir}/cgroup.procs`;
const enter = enterCgroup(cgroup);

/** What one reader (a process in the cgroup) read: its pid, the guest's uptime as it started, and the file's text. */
export interface Reading { pid: number; at: number; text: string }

function sh(script: string, timeout = 120_000): { code: number | null; out: string; err: string } {
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', timeout });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function must(script: string): string {
  const r = sh(script);
  if (r.code !== 0) throw new Error(`${script}: exit ${r.code}: ${r.err}`);
  return r.out;
}

/** One shell enters the cgroup; a child of it (a reader in the cgroup) reads each path in turn. */
function readInCgroup(paths: readonly string[], dir = cgroup): Reading[] {
  // The shell's own read (no process) of /proc/uptime times each reader.
  const reads = paths.map((p) => `sh -c 'read -r up idle < /proc/uptime; echo $$ $up; exec cat ${p}'; printf '\\001'`).join('; ');
  return must(`${enterCgroup(dir)}; ${reads}`).split('\x01').slice(0, paths.length).map((chunk) => {
    const newline = chunk.indexOf('\n');
    const [pid, at] = chunk.slice(0, newline).split(' ').map(Number);
    return { pid: pid!, at: at!, text: chunk.slice(newline + 1) };
  });
}

/** Starts a server and collects what it prints. */
function serve(program: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

async function until(what: string, ready: () => boolean, ms: number, server?: ChildProcess): Promise<void> {
  for (const deadline = Date.now() + ms; !ready(); await sleep(100)) {
    if (server && (server.exitCode !== null || server.signalCode !== null)) throw new Error(`${what} exited (${server.exitCode ?? server.signalCode})`);
    if (Date.now() > deadline) throw new Error(`${what} not ready in ${ms / 1000} s`);
  }
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}

const results: Record<string, unknown> = { kernel: readFileSync('/proc/version', 'utf8').trim() };
let lxcfs: ReturnType<typeof serve> | undefined;
let kmxMount: ReturnType<typeof serve> | undefined;
let sleeper: ChildProcess | undefined;
try {
  // The kernel's "(none)" is no host name kmx accepts as its view's name: give the guest one.
  must('hostname kmx-vm');
  must('mount -t cgroup2 cgroup2 /sys/fs/cgroup');
  writeFileSync('/sys/fs/cgroup/cgroup.subtree_control', '+memory +cpu +cpuset');
  for (const dir of [cgroup, ...loadCgroups]) {
    mkdirSync(dir);
    writeFileSync(`${dir}/memory.max`, String(256 * 1024 * 1024));
    writeFileSync(`${dir}/cpuset.cpus`, '0');
    writeFileSync(`${dir}/cpu.max`, '50000 100000');
  }
  // devtmpfs makes /dev/fuse when the fuse module loads; make it if it did not.
  if (!existsSync('/dev/fuse')) must('mknod -m 0666 /dev/fuse c 10 229');
  results.setup = {
    cgroupMount: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(' - cgroup')),
    controllers: readFileSync(`${cgroup}/cgroup.controllers`, 'utf8').trim(),
    memoryMax: readFileSync(`${cgroup}/memory.max`, 'utf8').trim(),
    cpusetEffective: readFileSync(`${cgroup}/cpuset.cpus.effective`, 'utf8').trim(),
    cpuMax: readFileSync(`${cgroup}/cpu.max`, 'utf8').trim(),
    readerCgroup: must(`${enter}; cat /proc/self/cgroup`).trim(),
    onlineCpus: readFileSync('/sys/devices/system/cpu/online', 'utf8').trim(),
  };

  mkdirSync(lxcfsDir);
  mkdirSync(kmxDir);
  // -l: per-cgroup load averages; --enable-cfs: CPU counts from the quota (as the v1 oracle test runs it).
  lxcfs = serve('/usr/bin/lxcfs', ['-f', '-l', '--enable-cfs', '-p', '/run/lxcfs.pid', lxcfsDir]);
  kmxMount = serve(process.execPath, [kmx, 'procsys', 'mount', '--cgroup-view', kmxDir]);
  await until('lxcfs', () => existsSync(`${lxcfsDir}/proc/meminfo`), 60_000, lxcfs.child);
  await until('kmx procsys mount', () => existsSync(`${kmxDir}/meminfo`), 120_000, kmxMount.child);
  const lx = `${lxcfsDir}/proc`;

  const files = ['meminfo', 'swaps', 'cpuinfo', 'stat', 'uptime', 'loadavg'];
  results.first = readInCgroup(files.flatMap((f) => [`${lx}/${f}`, `${kmxDir}/${f}`]));
  // stat on v2 is the host's lines for the cpuset, which move between reads: lxcfs is read again after kmx.
  results.statBracketed = readInCgroup([`${lx}/stat`, `${kmxDir}/stat`, `${lx}/stat`]);
  // CPU work in the cgroup (half a CPU of quota), then stat again from both.
  must(`${enter}; timeout 1.5 sh -c 'while :; do :; done'; true`);
  results.statAfterWork = readInCgroup([`${lx}/stat`, `${kmxDir}/stat`, `${lx}/stat`]);

  // loadavg after two refreshes of each (every 5 s, each on its own clock), a sleeper inside.
  // A refresh that falls while a reader is in the cgroup (a reader takes up to a second here)
  // counts it, and that sample decays over minutes: such an attempt measures the test, not the
  // view, so it is made again in a fresh cgroup, at most three times in all.
  const attempts: Array<{ sleeperPid: number | undefined; afterRefresh: Reading[] }> = [];
  results.loadavg = attempts;
  for (const dir of loadCgroups) {
    const started = spawn('/bin/sh', ['-c', `${enterCgroup(dir)}; exec sleep 600`], { stdio: 'ignore' });
    sleeper = started;
    await until('the sleeper in its cgroup', () => readFileSync(`${dir}/cgroup.procs`, 'utf8').trim() === String(started.pid), 10_000);
    readInCgroup([`${lx}/loadavg`, `${kmxDir}/loadavg`], dir);
    await sleep(11_000);
    const afterRefresh = readInCgroup([`${lx}/loadavg`, `${kmxDir}/loadavg`], dir);
    attempts.push({ sleeperPid: started.pid, afterRefresh });
    await stop(started);
    sleeper = undefined;
    if (afterRefresh.every((r) => r.text === `0.00 0.00 0.00 0/1 ${started.pid}\n`)) break;
  }

  // kmx procsys run, by default cgroup-aware, from inside the cgroup.
  const freeAndCpus = "free -m | awk '/^Mem:/ {print \\$2}'; grep -c ^processor /proc/cpuinfo";
  results.run = sh(`${enter}; '${process.execPath}' '${kmx}' procsys run -- sh -c "${freeAndCpus}"`, 180_000);
} catch (err) {
  results.error = (err as Error).stack ?? String(err);
} finally {
  await stop(sleeper);
  await stop(kmxMount?.child);
  await stop(lxcfs?.child);
  for (const dir of [kmxDir, lxcfsDir]) if (sh(`mountpoint -q ${dir}`).code === 0) sh(`umount -l ${dir}`);
  results.kmxOutput = kmxMount?.output().split('\n').slice(-40);
  results.lxcfsOutput = lxcfs?.output().split('\n').slice(-40);
  results.kmxExit = kmxMount?.child.exitCode ?? kmxMount?.child.signalCode;
}
console.log(`KMXVM-RESULT ${JSON.stringify(results)}`);
