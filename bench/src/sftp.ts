import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startSshd } from '@kmx/plugin-sftp-fuse/testing';
import { randomFile, sampleTree } from './lib/data.js';
import { kmx } from './lib/kmx.js';
import { dropCaches, median, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { runIfMain } from './lib/workdir.js';

export const name = 'kmx sftp';
export const peer = 'sshfs';

const MIB = 256;
const ROUNDS = 3;
type Target = 'kmx' | 'sshfs';

/** sshfs in the foreground as our child (a daemonised one is reaped late), with the cipher kmx prefers too. */
function mountSshfs(port: number, key: string, remote: string, mnt: string): ChildProcess {
  const child = spawn('sshfs', ['-f', '-p', String(port), '-o',
    `IdentityFile=${key},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR,Ciphers=aes128-gcm@openssh.com`,
    `root@127.0.0.1:${remote}`, mnt], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  while (spawnSync('mountpoint', ['-q', mnt]).status !== 0) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('sshfs did not mount');
    spawnSync('sleep', ['0.05']);
  }
  return child;
}

async function unmountSshfs(child: ChildProcess, mnt: string): Promise<void> {
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  spawnSync('fusermount3', ['-u', mnt]);
  await exited;
}

/**
 * kmx sftp against sshfs, both over the same throwaway sshd on loopback serving directories in
 * memory (tmpfs), in one run: seq write
 * and read of 256 MiB of random data (sustained, and the first on a fresh mount), find+stat
 * over 2,000 files on a freshly mounted (cold) mount, and untar of /usr/include/linux into an
 * empty directory of a fresh mount.
 */
export async function run(work: string): Promise<BenchResult[]> {
  const shm = '/dev/shm/kmx-bench';
  mkdirSync(shm, { recursive: true });
  const data = randomFile(shm, MIB);
  const tree = sampleTree(shm);
  const linuxTar = join(shm, 'linux-headers.tar');
  spawnSync('tar', ['-C', '/usr/include', '-cf', linuxTar, 'linux']);
  const sshd = await startSshd(join(work, 'sshd'));
  const env = { ...process.env, HOME: join(work, 'home') };
  // The served directories live in memory: what is compared is the two clients and the SSH
  // path, not this machine's disk, whose flush of 256 MiB (0.26–0.63 s here) both would pay.
  const served = mkdtempSync('/dev/shm/kmx-bench-sftp-');
  const srv = (t: Target): string => join(served, t);
  const mnt = (t: Target): string => join(work, 'mnt', t);
  for (const t of ['kmx', 'sshfs'] as const) {
    mkdirSync(srv(t), { recursive: true });
    mkdirSync(mnt(t), { recursive: true });
  }
  let sshfs: ChildProcess | undefined;
  const mount = (t: Target): void => {
    if (t === 'sshfs') sshfs = mountSshfs(sshd.port, sshd.clientKey, srv(t), mnt(t));
    else kmx(['sftp', 'mount', '--daemon', '-o', 'StrictHostKeyChecking=no', '-i', sshd.clientKey, `root@127.0.0.1:${sshd.port}:${srv(t)}`, mnt(t)], env);
  };
  const unmount = async (t: Target): Promise<void> => {
    if (t === 'sshfs' && sshfs) await unmountSshfs(sshfs, mnt(t));
    else if (t === 'kmx') kmx(['umount', mnt(t)]);
  };
  /** Each sample on a fresh mount: nothing cached in the kernel or in the client. */
  const fresh = async (targets: readonly Target[], body: (t: Target) => number): Promise<Record<Target, number>> => {
    const samples: Record<Target, number[]> = { kmx: [], sshfs: [] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const t of targets) {
        mount(t);
        try {
          samples[t].push(body(t));
        } finally {
          await unmount(t);
        }
      }
    }
    return { kmx: median(samples.kmx), sshfs: median(samples.sshfs) };
  };

  try {
    const targets = ['kmx', 'sshfs'] as const;
    /**
     * Seq write, then seq read, on one mount per tool: the first of each is the fresh mount's
     * (a new SSH connection whose sshd grows its buffers as data piles up, and for kmx a new
     * process whose code is not yet compiled); the next two on the same mount are the
     * sustained throughput. Caches are dropped before every sample; the file is removed
     * through the mount, so that no cache of either tool goes stale.
     */
    const firsts: Record<Target, { write: number[]; read: number[] }> = { kmx: { write: [], read: [] }, sshfs: { write: [], read: [] } };
    const sustained: Record<Target, { write: number[]; read: number[] }> = { kmx: { write: [], read: [] }, sshfs: { write: [], read: [] } };
    for (let i = 0; i < ROUNDS; i++) {
      for (const t of targets) {
        mount(t);
        try {
          for (let n = 0; n < 3; n++) {
            const into = n === 0 ? firsts[t] : sustained[t];
            rmSync(join(mnt(t), 'big'), { force: true });
            dropCaches();
            into.write.push(timeShell(`dd if='${data}' of='${mnt(t)}/big' bs=1M conv=fsync status=none`));
            dropCaches();
            into.read.push(timeShell(`dd if='${mnt(t)}/big' of=/dev/null bs=1M status=none`));
          }
        } finally {
          await unmount(t);
        }
      }
    }
    const rate = (samples: Record<Target, { write: number[]; read: number[] }>, op: 'write' | 'read', t: Target): number => MIB / median(samples[t][op]);
    for (const t of targets) spawnSync('tar', ['-xf', tree, '-C', srv(t)]);
    const walk = await fresh(targets, (t) => {
      dropCaches();
      spawnSync('sh', ['-c', `find '${srv(t)}/tree' -type f -print0 | xargs -0 stat > /dev/null`]); // the server's own cache warm, as in the anchors
      return timeShell(`find '${mnt(t)}/tree' -type f -print0 | xargs -0 stat -c '%s %Y %n' > /dev/null`);
    });
    const untar = await fresh(targets, (t) => {
      rmSync(join(srv(t), 'linux'), { recursive: true, force: true });
      dropCaches();
      return timeShell(`tar -xf '${linuxTar}' -C '${mnt(t)}'`);
    });
    const note = `engine ${process.env.KMX_FUSE_ENGINE ?? 'default'}`;
    return [
      result(`seq write ${MIB} MiB (fsync), sustained`, rate(sustained, 'write', 'kmx'), rate(sustained, 'write', 'sshfs'), 'MiB/s', `${note}; 2nd and 3rd on a mount`),
      result(`seq read ${MIB} MiB (cold cache), sustained`, rate(sustained, 'read', 'kmx'), rate(sustained, 'read', 'sshfs'), 'MiB/s', `${note}; 2nd and 3rd on a mount`),
      result(`seq write ${MIB} MiB (fsync), fresh mount`, rate(firsts, 'write', 'kmx'), rate(firsts, 'write', 'sshfs'), 'MiB/s', `${note}; a mount's first transfer`),
      result(`seq read ${MIB} MiB (cold cache), fresh mount`, rate(firsts, 'read', 'kmx'), rate(firsts, 'read', 'sshfs'), 'MiB/s', `${note}; a mount's first read, after its first write`),
      result('find+stat 2,000 files (cold mount)', walk.kmx * 1000, walk.sshfs * 1000, 'ms', `${note}; fresh mount per sample`),
      result('untar /usr/include/linux', untar.kmx, untar.sshfs, 's', `${note}; fresh mount per sample`),
    ];
  } finally {
    await sshd.stop();
    rmSync(served, { recursive: true, force: true });
  }
}

await runIfMain(import.meta.url, 'sftp', run);
