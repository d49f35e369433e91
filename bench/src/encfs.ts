import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFile, sampleTree } from './lib/data.js';
import { kmx } from './lib/kmx.js';
import { alternate, dropCaches, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { runIfMain } from './lib/workdir.js';

export const name = 'kmx enc';
export const peer = 'gocryptfs';

const MIB = 512;
// Five samples each: ratios near 1.0 swing by ±15 % between runs of three on this shared machine.
const ROUNDS = 5;
const PASSWORD = 'bench password';

function mounted(mnt: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === mnt);
}

/** Real gocryptfs in the foreground as our child; stop() unmounts it and waits for it to exit. */
async function startGocryptfs(flags: readonly string[], dir: string, mnt: string, passfile: string): Promise<() => Promise<void>> {
  const child: ChildProcess = spawn('gocryptfs', ['-fg', '-q', '-passfile', passfile, ...flags, dir, mnt], { stdio: 'ignore' });
  for (let i = 0; !mounted(mnt); i++) {
    if (child.exitCode !== null || i > 1000) throw new Error(`gocryptfs did not mount ${mnt}`);
    await sleep(10);
  }
  return async () => {
    spawnSync('fusermount3', ['-u', '-z', mnt]);
    if (child.exitCode === null) await once(child, 'exit');
  };
}

/**
 * kmx enc against gocryptfs 2.3, in one run, alternating: sequential write (fsync) and cold
 * read of 512 MiB of random data and untar of a ~2,000-file tree in the plaintext view (the
 * plain directory's figures are in the notes), then the same file and tree read cold through
 * each reverse view. Both use AES-GCM forward and AES-SIV reverse; scrypt cost does not matter here.
 */
export async function run(work: string): Promise<BenchResult[]> {
  const shm = '/dev/shm/kmx-bench';
  mkdirSync(shm, { recursive: true });
  const data = randomFile(shm, MIB);
  const tar = sampleTree(shm);
  const passfile = join(work, 'password');
  writeFileSync(passfile, `${PASSWORD}\n`, { mode: 0o600 });
  const dirs = Object.fromEntries(['kc', 'km', 'gc', 'gm', 'plain', 'rp', 'rkm', 'rgm'].map((d) => [d, join(work, d)])) as Record<string, string>;
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const engine = process.env.KMX_FUSE_ENGINE;
  const env = engine ? { KMX_FUSE_ENGINE: engine } : {};
  const note = engine ? `engine ${engine}` : 'default engine';

  kmx(['enc', 'init', '--scryptn', '10', '--passfile', passfile, dirs.kc!]);
  execFileSync('gocryptfs', ['-init', '-q', '-scryptn', '10', '-passfile', passfile, dirs.gc!]);
  kmx(['enc', 'mount', '--daemon', '--passfile', passfile, dirs.kc!, dirs.km!], env);
  const stopGocryptfs = await startGocryptfs([], dirs.gc!, dirs.gm!, passfile);
  const targets = { kmx: dirs.km!, gocryptfs: dirs.gm!, plain: dirs.plain! } as const;
  const order = ['kmx', 'gocryptfs', 'plain'] as const;
  let forward: Record<'write' | 'read' | 'untar', Record<(typeof order)[number], number>>;
  try {
    const write = alternate(order, ROUNDS, (t) => {
      rmSync(join(targets[t], 'big'), { force: true });
      dropCaches();
      return timeShell(`dd if='${data}' of='${targets[t]}/big' bs=1M conv=fsync status=none`);
    });
    const read = alternate(order, ROUNDS, (t) => {
      dropCaches();
      return timeShell(`dd if='${targets[t]}/big' of=/dev/null bs=1M status=none`);
    });
    const untar = alternate(order, ROUNDS, (t) => {
      rmSync(join(targets[t], 'tree'), { recursive: true, force: true });
      dropCaches();
      return timeShell(`tar -xf '${tar}' -C '${targets[t]}'`);
    });
    forward = { write, read, untar };
    process.stderr.write(`bench enc: forward done ${JSON.stringify(forward)}\n`);
  } finally {
    kmx(['umount', dirs.km!]);
    await stopGocryptfs();
  }

  // Reverse: the same data as plain files, one reverse config (gocryptfs's) for both views.
  execFileSync('cp', [data, join(dirs.rp!, 'big')]);
  execFileSync('tar', ['-xf', tar, '-C', dirs.rp!]);
  if (!existsSync(join(dirs.rp!, '.gocryptfs.reverse.conf'))) execFileSync('gocryptfs', ['-init', '-reverse', '-q', '-scryptn', '10', '-passfile', passfile, dirs.rp!]);
  kmx(['enc', 'mount', '--reverse', '--daemon', '--passfile', passfile, dirs.rp!, dirs.rkm!], env);
  const stopReverse = await startGocryptfs(['-reverse'], dirs.rp!, dirs.rgm!, passfile);
  const views = { kmx: dirs.rkm!, gocryptfs: dirs.rgm! } as const;
  let reverse: Record<'file' | 'tree', Record<'kmx' | 'gocryptfs', number>>;
  try {
    // Both views show the file under the same encrypted name.
    const encrypted = kmx(['enc', 'encrypt-path', '--reverse', '--passfile', passfile, dirs.rp!, 'big']).trim();
    const big = { kmx: join(views.kmx, encrypted), gocryptfs: join(views.gocryptfs, encrypted) };
    const file = alternate(['kmx', 'gocryptfs'] as const, ROUNDS, (t) => {
      dropCaches();
      return timeShell(`dd if='${big[t]}' of=/dev/null bs=1M status=none`);
    });
    const tree = alternate(['kmx', 'gocryptfs'] as const, ROUNDS, (t) => {
      dropCaches();
      return timeShell(`cd '${views[t]}' && tar -cf - --exclude='${big[t].slice(views[t].length + 1)}' . | cat > /dev/null`);
    });
    reverse = { file, tree };
  } finally {
    kmx(['umount', dirs.rkm!]);
    await stopReverse();
  }

  const mibs = (s: number): number => MIB / s;
  return [
    result(`seq write ${MIB} MiB (fsync)`, mibs(forward.write.kmx), mibs(forward.write.gocryptfs), 'MiB/s', `${note}; plain dir ${mibs(forward.write.plain).toFixed(0)} MiB/s`),
    result(`seq read ${MIB} MiB (cold)`, mibs(forward.read.kmx), mibs(forward.read.gocryptfs), 'MiB/s', `${note}; plain dir ${mibs(forward.read.plain).toFixed(0)} MiB/s`),
    result('untar 2,000 files', forward.untar.kmx, forward.untar.gocryptfs, 's', `${note}; plain dir ${forward.untar.plain.toFixed(2)} s`),
    result(`reverse view: read ${MIB} MiB (cold)`, mibs(reverse.file.kmx), mibs(reverse.file.gocryptfs), 'MiB/s', `${note}; AES-SIV, vs gocryptfs -reverse`),
    result('reverse view: tar of 2,000 files (cold)', reverse.tree.kmx, reverse.tree.gocryptfs, 's', `${note}; vs gocryptfs -reverse`),
  ];
}

await runIfMain(import.meta.url, 'encfs', run);
