import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { kmxBin } from './lib/kmx.js';
import { alternate, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { runIfMain } from './lib/workdir.js';

export const name = 'kmx ns list';
export const peer = 'lsns';

const ROUNDS = 7;
/** Processes each in five new namespaces (user, mnt, net, uts, ipc): 200 namespaces lsns sees. */
const SANDBOXES = 40;
/** Namespaces lsns cannot see, of each kind. */
const NESTED = 10; // unshare -Ur unshare -Ur: a hidden user namespace each (plus the inner one)
const BOUND = 20; // net namespaces held by a bind mount only
const FD_HELD = 10; // net namespaces held by an fd only
const THREADS = 5; // uts namespaces only a thread is in

const sleep = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** Polls `ready` for up to 10 s. */
function waitFor(ready: () => boolean, what: string): void {
  for (let i = 0; i < 1000; i++) {
    try {
      if (ready()) return;
    } catch {
      // not yet
    }
    sleep(10);
  }
  throw new Error(`bench set-up: ${what} did not get ready`);
}

const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
const link = (path: string): string => readlinkSync(path);

/** Everything the benchmark starts and mounts, taken down by pid and path. */
class Crowd {
  readonly children: ChildProcess[] = [];
  readonly mounts: string[] = [];

  start(command: string, args: readonly string[], options: { fds?: number[] } = {}): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'ignore', ...(options.fds ?? [])] });
    this.children.push(child);
    return child;
  }

  async tearDown(): Promise<void> {
    const exits = this.children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()))));
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(exits);
    for (const path of this.mounts) spawnSync('umount', ['-l', path]);
  }
}

function populate(crowd: Crowd, work: string): void {
  const ownUser = link('/proc/self/ns/user');
  const ownNet = link('/proc/self/ns/net');
  const ownUts = link('/proc/self/ns/uts');
  for (let i = 0; i < SANDBOXES; i++) {
    const c = crowd.start('unshare', ['--user', '--map-root-user', '--mount', '--net', '--uts', '--ipc', 'sleep', '3600']);
    waitFor(() => comm(c.pid!) === 'sleep' && link(`/proc/${c.pid}/ns/user`) !== ownUser, 'unshare sandbox');
  }
  for (let i = 0; i < NESTED; i++) {
    const c = crowd.start('unshare', ['-Ur', 'unshare', '-Ur', 'sleep', '3600']);
    waitFor(() => comm(c.pid!) === 'sleep' && link(`/proc/${c.pid}/ns/user`) !== ownUser, 'nested user namespaces');
  }
  const bound = join(work, 'bound');
  mkdirSync(bound, { recursive: true });
  for (let i = 0; i < BOUND; i++) {
    const file = join(bound, `net${i}`);
    writeFileSync(file, '');
    crowd.mounts.push(file);
    const r = spawnSync('unshare', [`--net=${file}`, 'true']);
    if (r.status !== 0) throw new Error(`unshare --net=${file}: ${r.stderr.toString()}`);
  }
  const fds: number[] = [];
  for (let i = 0; i < FD_HELD; i++) {
    const owner = crowd.start('unshare', ['--net', 'sleep', '3600']);
    waitFor(() => comm(owner.pid!) === 'sleep' && link(`/proc/${owner.pid}/ns/net`) !== ownNet, 'unshare --net');
    fds.push(openSync(`/proc/${owner.pid}/ns/net`, 'r'));
    owner.kill('SIGKILL');
  }
  const holder = crowd.start('sleep', ['3600'], { fds });
  waitFor(() => readdirSync(`/proc/${holder.pid}/fd`).length >= 3 + FD_HELD, 'the fd holder');
  for (const fd of fds) closeSync(fd);
  const script = `import ctypes, threading, time
libc = ctypes.CDLL(None, use_errno=True)
def moved():
    libc.unshare(0x04000000)
    time.sleep(3600)
for _ in range(${THREADS}): threading.Thread(target=moved, daemon=True).start()
time.sleep(3600)`;
  const py = crowd.start('python3', ['-c', script]);
  waitFor(() => readdirSync(`/proc/${py.pid}/task`).filter((t) => link(`/proc/${py.pid}/task/${t}/ns/uts`) !== ownUts).length === THREADS, 'python threads');
}

function countKmx(): number {
  const out = spawnSync(process.execPath, [kmxBin(), 'ns', 'list', '--json'], { maxBuffer: 1 << 28 });
  return (JSON.parse(out.stdout.toString()) as { namespaces: unknown[] }).namespaces.length;
}

function countLsns(): number {
  const out = spawnSync('lsns', ['-J'], { maxBuffer: 1 << 28 });
  return (JSON.parse(out.stdout.toString()) as { namespaces: unknown[] }).namespaces.length;
}

/**
 * discover() inside one Node process (the library without the CLI's start-up), alternating
 * with lsns runs timed from the same process: medians in seconds.
 */
function discoveryInProcess(): { kmx: number; lsns: number } {
  const library = pathToFileURL(resolve(fileURLToPath(import.meta.url), '../../../../plugins/namespaces/dist/src/index.js')).href;
  const core = pathToFileURL(resolve(fileURLToPath(import.meta.url), '../../../../packages/core/dist/src/index.js')).href;
  const program = `import { spawnSync } from 'node:child_process';
const { NamespaceDiscovery } = await import(${JSON.stringify(library)});
const { MountHelper } = await import(${JSON.stringify(core)});
const discovery = new NamespaceDiscovery(new MountHelper());
await discovery.discover(); // warm: koffi loaded, the ioctls bound
const kmx = [], lsns = [];
for (let i = 0; i < ${ROUNDS}; i++) {
  let t = performance.now(); await discovery.discover(); kmx.push(performance.now() - t);
  t = performance.now(); spawnSync('lsns', ['-J'], { stdio: 'ignore' }); lsns.push(performance.now() - t);
}
const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)] / 1000;
console.log(JSON.stringify({ kmx: median(kmx), lsns: median(lsns) }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`in-process discovery failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as { kmx: number; lsns: number };
}

/** kmx ns list --json against lsns -J, both cold processes, with ≥ 200 extra namespaces around. */
export async function run(work: string): Promise<BenchResult[]> {
  const crowd = new Crowd();
  try {
    populate(crowd, work);
    const extra = SANDBOXES * 5 + NESTED * 2 + BOUND + FD_HELD + THREADS;
    const cli = alternate(['kmx', 'lsns'], ROUNDS, (t) =>
      timeShell(t === 'kmx' ? `'${process.execPath}' '${kmxBin()}' ns list --json > /dev/null` : 'lsns -J > /dev/null'));
    const library = discoveryInProcess();
    const found = { kmx: countKmx(), lsns: countLsns() };
    const note = `${extra} extra namespaces; lsns cannot see ${NESTED + BOUND + FD_HELD + THREADS} of them`;
    return [
      result('list as JSON (new process each)', cli.kmx * 1000, cli.lsns * 1000, 'ms', note),
      result('discovery in one process vs lsns run', library.kmx * 1000, library.lsns * 1000, 'ms', 'kmx without Node/oclif start-up'),
      result('namespaces found', found.kmx, found.lsns, 'namespaces', 'kmx adds what lsns misses', 'higher'),
    ];
  } finally {
    await crowd.tearDown();
  }
}

await runIfMain(import.meta.url, 'namespaces', run);
