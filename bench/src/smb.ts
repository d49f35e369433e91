import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { kmxBin } from './lib/kmx.js';
import { randomFile, sampleTree } from './lib/data.js';
import { alternate, dropCaches, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { startSmbd } from '@kmx/plugin-nfs-mount/smbd';
import { runIfMain } from './lib/workdir.js';

export const name = 'kmx smb';
export const peer = 'smbnetfs (FUSE over libsmbclient) and smbclient get/put';

const MIB = 256;
const ROUNDS = 3;
const NETNS = 'kmxt-smbbench';

/**
 * User-space SMB (libsmbclient over FUSE) against smbnetfs, Debian's FUSE client on the same
 * library, and against smbclient's own get/put, all on one smbd. smbnetfs cannot name a port
 * (libsmbclient then tries 445 and 139), so smbd listens on 445 in a network namespace of the
 * benchmark's own, and every client joins it; the mounts stay in the host's mount namespace.
 */
export async function run(work: string): Promise<BenchResult[]> {
  const shm = '/dev/shm/kmx-bench';
  mkdirSync(shm, { recursive: true });
  const data = randomFile(shm, MIB);
  const tar = sampleTree(shm);
  const share = join(work, 'share');
  const mnt = join(work, 'mnt');
  const netfsMnt = join(work, 'smbnetfs');
  const home = join(work, 'home');
  for (const d of [share, mnt, netfsMnt, join(home, '.smb')]) mkdirSync(d, { recursive: true });
  timeShell(`tar -xf '${tar}' -C '${share}'`);
  const password = randomBytes(9).toString('base64url');
  const inNetns = (program: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): string =>
    execFileSync('nsenter', [`--net=/run/netns/${NETNS}`, program, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  execFileSync('ip', ['netns', 'add', NETNS]);
  const results: BenchResult[] = [];
  try {
    execFileSync('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
    // The Samba account of root: the benchmark runs as root, and smbd then reads and writes the share as root.
    const smbd = await startSmbd({ dir: join(work, 'smbd'), shareDir: share, user: 'root', password, netns: NETNS });
    try {
      inNetns(process.execPath, [kmxBin(), 'smb', 'mount', '//127.0.0.1/share', 'bench', '--userspace', '--user', 'root', '--mountpoint', mnt], { PASSWD: password });
      writeFileSync(join(home, '.smb', 'smb.conf'), '[global]\n  client min protocol = SMB2_10\n');
      writeFileSync(join(home, '.smb', 'smbnetfs.conf'), `auth "127.0.0.1" "root" "${password}"\nsmb_query_browsers false\n`, { mode: 0o600 });
      inNetns('smbnetfs', [netfsMnt, '-o', `config=${join(home, '.smb', 'smbnetfs.conf')}`], { HOME: home });
      const netfs = join(netfsMnt, '127.0.0.1', 'share');
      const smbclient = (command: string): string =>
        `nsenter --net=/run/netns/${NETNS} smbclient //127.0.0.1/share -U 'root%${password}' -c '${command}' > /dev/null`;
      try {
        const write = alternate(['kmx', 'smbnetfs', 'smbclient'], ROUNDS, (t) => {
          rmSync(join(share, 'big'), { force: true });
          dropCaches();
          if (t === 'kmx') return timeShell(`dd if='${data}' of='${mnt}/big' bs=1M status=none`);
          if (t === 'smbnetfs') return timeShell(`dd if='${data}' of='${netfs}/big' bs=1M status=none`);
          return timeShell(smbclient(`put ${data} big`));
        });
        const read = alternate(['kmx', 'smbnetfs', 'smbclient'], ROUNDS, (t) => {
          rmSync(join(shm, 'out'), { force: true });
          dropCaches();
          if (t === 'kmx') return timeShell(`dd if='${mnt}/big' of=/dev/null bs=1M status=none`);
          if (t === 'smbnetfs') return timeShell(`dd if='${netfs}/big' of=/dev/null bs=1M status=none`);
          return timeShell(smbclient(`get big ${join(shm, 'out')}`));
        });
        rmSync(join(shm, 'out'), { force: true });
        const walk = alternate(['kmx', 'smbnetfs', 'smbclient'], ROUNDS, (t) => {
          dropCaches();
          if (t === 'kmx') return timeShell(`find '${mnt}/tree' -type f -print0 | xargs -0 stat -c '%s %Y' > /dev/null`);
          if (t === 'smbnetfs') return timeShell(`find '${netfs}/tree' -type f -print0 | xargs -0 stat -c '%s %Y' > /dev/null`);
          return timeShell(smbclient('recurse; ls tree/*'));
        });
        const note = 'SMB 3.1.1 over loopback to smbd; smbclient includes connect+session setup';
        results.push(
          result(`seq write ${MIB} MiB vs smbnetfs`, MIB / write.kmx, MIB / write.smbnetfs, 'MiB/s', note),
          result(`seq write ${MIB} MiB vs smbclient put`, MIB / write.kmx, MIB / write.smbclient, 'MiB/s', note),
          result(`seq read ${MIB} MiB (cold) vs smbnetfs`, MIB / read.kmx, MIB / read.smbnetfs, 'MiB/s', note),
          result(`seq read ${MIB} MiB (cold) vs smbclient get`, MIB / read.kmx, MIB / read.smbclient, 'MiB/s', note),
          result('find+stat 2,000 files (cold) vs smbnetfs', walk.kmx * 1000, walk.smbnetfs * 1000, 'ms', note),
          result('find+stat 2,000 files (cold) vs smbclient recurse ls', walk.kmx * 1000, walk.smbclient * 1000, 'ms', note),
        );
      } finally {
        spawnSync('fusermount3', ['-u', netfsMnt]);
        spawnSync(process.execPath, [kmxBin(), 'umount', mnt]);
      }
    } finally {
      await smbd.stop();
    }
  } finally {
    spawnSync('ip', ['netns', 'del', NETNS]);
  }
  return results;
}

await runIfMain(import.meta.url, 'smb', run);
