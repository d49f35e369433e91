import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { kmx } from './lib/kmx.js';
import { randomFile, sampleTree } from './lib/data.js';
import { alternate, dropCaches, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { KmxdClient } from '@kmx/core/daemon';
import { startGanesha } from '@kmx/plugin-nfs-mount/ganesha';
import { runIfMain } from './lib/workdir.js';

export const name = 'kmx nfs';
export const peer = "libnfs's nfs-cp / nfs-ls, and the local disk";

const MIB = 256;
const ROUNDS = 3;

/**
 * libnfs's tools now and then fail to connect on this loaded machine ("nfs_service failed"):
 * time the first of three tries that works.
 */
function timeTool(script: string): number {
  for (let attempt = 1; ; attempt++) {
    try {
      return timeShell(script);
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

/**
 * User-space NFS (libnfs over FUSE, NFSv3) against libnfs's own command-line tools on the same
 * ganesha export, and against the export's directory on the local disk. Kernel NFS would be
 * measured inside a TCG-emulated VM, far too slow to be a fair peer, so it is left out.
 */
export async function run(work: string): Promise<BenchResult[]> {
  const shm = '/dev/shm/kmx-bench';
  mkdirSync(shm, { recursive: true });
  const data = randomFile(shm, MIB);
  const tar = sampleTree(shm);
  const exportDir = join(work, 'export');
  const mnt = join(work, 'mnt');
  for (const d of [exportDir, mnt]) mkdirSync(d, { recursive: true });
  timeShell(`tar -xf '${tar}' -C '${exportDir}'`);
  const g = await startGanesha({ dir: join(work, 'ganesha'), exportDir });
  const url = (path: string): string => `nfs://127.0.0.1/export${path}?version=3&nfsport=${g.nfsPort}&mountport=${g.mountPort}`;
  const results: BenchResult[] = [];
  try {
    kmx(['nfs', 'mount', '127.0.0.1:/export', 'bench', '--userspace', '--vers', '3', '--port', String(g.nfsPort), '--mount-port', String(g.mountPort), '--mountpoint', mnt]);
    try {
      // nfs-cp ends when the server has the data, without a COMMIT: kmx is timed the same way
      // against it, and with conv=fsync (a COMMIT, the server's disk) against the local disk.
      const write = alternate(['kmx', 'nfs-cp', 'kmx+fsync', 'disk+fsync'], ROUNDS, (t) => {
        rmSync(join(exportDir, 'big'), { force: true });
        dropCaches();
        if (t === 'kmx') return timeShell(`dd if='${data}' of='${mnt}/big' bs=1M status=none`);
        if (t === 'kmx+fsync') return timeShell(`dd if='${data}' of='${mnt}/big' bs=1M conv=fsync status=none`);
        if (t === 'nfs-cp') return timeTool(`nfs-cp '${data}' '${url('/big')}'`);
        return timeShell(`dd if='${data}' of='${exportDir}/big' bs=1M conv=fsync status=none`);
      });
      const read = alternate(['kmx', 'nfs-cp', 'disk'], ROUNDS, (t) => {
        rmSync('/dev/shm/kmx-bench/out', { force: true });
        dropCaches();
        if (t === 'kmx') return timeShell(`dd if='${mnt}/big' of=/dev/null bs=1M status=none`);
        if (t === 'nfs-cp') return timeTool(`rm -f /dev/shm/kmx-bench/out && nfs-cp '${url('/big')}' /dev/shm/kmx-bench/out`);
        return timeShell(`dd if='${exportDir}/big' of=/dev/null bs=1M status=none`);
      });
      rmSync('/dev/shm/kmx-bench/out', { force: true });
      const walk = alternate(['kmx', 'nfs-ls', 'disk'], ROUNDS, (t) => {
        dropCaches();
        if (t === 'kmx') return timeShell(`find '${mnt}/tree' -type f -print0 | xargs -0 stat -c '%s %Y' > /dev/null`);
        if (t === 'nfs-ls') return timeTool(`nfs-ls -R '${url('/tree')}' > /dev/null`);
        return timeShell(`find '${exportDir}/tree' -type f -print0 | xargs -0 stat -c '%s %Y' > /dev/null`);
      });
      const note = 'NFSv3 over loopback to nfs-ganesha; nfs-cp/nfs-ls include connect+mount';
      results.push(
        result(`seq write ${MIB} MiB vs nfs-cp`, MIB / write.kmx, MIB / write['nfs-cp'], 'MiB/s', `${note}; no fsync on either side`),
        result(`seq write ${MIB} MiB (fsync) vs local disk`, MIB / write['kmx+fsync'], MIB / write['disk+fsync'], 'MiB/s', 'the export directory, written directly; conv=fsync on both'),
        result(`seq read ${MIB} MiB (cold) vs nfs-cp`, MIB / read.kmx, MIB / read['nfs-cp'], 'MiB/s', note),
        result(`seq read ${MIB} MiB (cold) vs local disk`, MIB / read.kmx, MIB / read.disk, 'MiB/s', 'the export directory, read directly'),
        result('find+stat 2,000 files (cold) vs nfs-ls -R', walk.kmx * 1000, walk['nfs-ls'] * 1000, 'ms', note),
        result('find+stat 2,000 files (cold) vs local disk', walk.kmx * 1000, walk.disk * 1000, 'ms'),
      );
    } finally {
      kmx(['nfs', 'umount', mnt]);
    }
  } finally {
    await g.stop();
  }
  results.push(await kmxdRate(work));
  return results;
}

/** kmxd ping+list requests per second: 100 concurrent clients against one, on a scratch socket. */
async function kmxdRate(work: string): Promise<BenchResult> {
  const require = createRequire(import.meta.url);
  const coreDir = join(require.resolve('@kmx/core/package.json'), '..');
  const socket = join(work, 'kmxd.sock');
  const daemon = spawn(process.execPath, [join(coreDir, 'bin', 'kmxd.js'), '--socket', socket, '--state-dir', join(work, 'kmxd-state'), '--media-dir', join(work, 'media'), '--log-level', 'error'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 200; i++) {
      try {
        (await KmxdClient.connect(socket)).close();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    const rate = async (clients: number, perClient: number): Promise<number> => {
      const conns = await Promise.all(Array.from({ length: clients }, () => KmxdClient.connect(socket)));
      const start = performance.now();
      await Promise.all(conns.map(async (c) => {
        for (let i = 0; i < perClient; i++) await c.request(i % 2 ? { list: {} } : { ping: {} });
      }));
      const seconds = (performance.now() - start) / 1000;
      for (const c of conns) c.close();
      return (clients * perClient) / seconds;
    };
    const many = await rate(100, 50);
    const one = await rate(1, 2000);
    return result('kmxd requests/s, 100 concurrent clients vs 1 client', many, one, 'req/s', 'ping and list, alternating; peer = the same daemon with one client');
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  }
}

await runIfMain(import.meta.url, 'nfs', run);
