import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomFile, sampleTree } from './lib/data.js';
import { withKmxMount } from './lib/kmx.js';
import { alternate, dropCaches, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { runIfMain } from './lib/workdir.js';

export const name = 'kmx passthrough';
export const peer = 'native directory';

const MIB = 256;
const ROUNDS = 3;

/** kmx passthrough against the directory it mirrors: seq write/read, find+stat, untar. */
export async function run(work: string): Promise<BenchResult[]> {
  const shm = '/dev/shm/kmx-bench';
  mkdirSync(shm, { recursive: true });
  const data = randomFile(shm, MIB);
  const tar = sampleTree(shm);
  const native = join(work, 'native');
  const backing = join(work, 'backing');
  const mnt = join(work, 'mnt');
  for (const dir of [native, backing, mnt]) mkdirSync(dir, { recursive: true });
  const targets = { kmx: mnt, native } as const;
  const engine = process.env.KMX_FUSE_ENGINE;

  return withKmxMount(['passthrough', backing, mnt], mnt, () => {
    const write = alternate(['kmx', 'native'], ROUNDS, (t) => {
      rmSync(join(targets[t], 'big'), { force: true });
      dropCaches();
      return timeShell(`dd if='${data}' of='${targets[t]}/big' bs=1M conv=fsync status=none`);
    });
    const read = alternate(['kmx', 'native'], ROUNDS, (t) => {
      dropCaches();
      return timeShell(`dd if='${targets[t]}/big' of=/dev/null bs=1M status=none`);
    });
    const untar = alternate(['kmx', 'native'], ROUNDS, (t) => {
      rmSync(join(targets[t], 'tree'), { recursive: true, force: true });
      dropCaches();
      return timeShell(`tar -xf '${tar}' -C '${targets[t]}'`);
    });
    const walk = alternate(['kmx', 'native'], ROUNDS, (t) => {
      dropCaches();
      return timeShell(`find '${targets[t]}/tree' -type f -print0 | xargs -0 stat -c '%s %Y' > /dev/null`);
    });
    const note = engine ? `engine ${engine}` : 'default engine';
    return [
      result(`seq write ${MIB} MiB (fsync)`, MIB / write.kmx, MIB / write.native, 'MiB/s', note),
      result(`seq read ${MIB} MiB (cold)`, MIB / read.kmx, MIB / read.native, 'MiB/s', note),
      result('find+stat 2,000 files (cold)', walk.kmx * 1000, walk.native * 1000, 'ms', note),
      result('untar 2,000 files', untar.kmx, untar.native, 's', note),
    ];
  }, engine ? { KMX_FUSE_ENGINE: engine } : {});
}

await runIfMain(import.meta.url, 'passthrough', run);
