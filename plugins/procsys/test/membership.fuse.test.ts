import assert from 'node:assert/strict';
import { readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { CLUSTER_FILE_PERIOD_MS } from '../src/lib/cluster/membership.js';
import { PID_SPACE } from '../src/lib/merge/pid-space.js';
import { withTestNet, type TestHost } from './helpers/hosts.js';
import { eventually, pidNames, readStatus } from './helpers/proc-text.js';

/** Writes the cluster file whole (a reader never sees half of it). */
async function writeCluster(path: string, hosts: readonly TestHost[]): Promise<void> {
  const next = `${path}.next`;
  await writeFile(next, JSON.stringify({ hosts: [{ name: 'me' }, ...hosts.map((h) => ({ name: h.name, address: h.address }))] }));
  await rename(next, path);
}

const statusRows = async (mnt: string): Promise<string[]> => [...(await readStatus(join(mnt, 'status'))).entries()].map(([name, s]) => `${name} ${s.slot} ${s.state}`);

/** Hosts join and leave within the file's check period, plus a connection. */
const WITHIN_MS = CLUSTER_FILE_PERIOD_MS + 3000;

describe('kmx procsys: membership from a cluster file that changes', () => {
  it('hosts added to the file join, hosts removed leave, a broken file changes nothing', () => temporaryDirectory(async (dir) => {
    await withTestNet(['a', 'b', 'c'], async (net) => {
      const [a, b, c] = net.hosts as [TestHost, TestHost, TestHost];
      await Promise.all(net.hosts.map((h) => net.start(h, ['procsys', 'serve', '--insecure', '--listen', h.address, '--name', h.name])));
      const clusterFile = join(dir, 'cluster.json');
      await writeCluster(clusterFile, [a, b]);
      await withTestMount({ args: ({ mnt }) => ['procsys', 'mount', '--insecure', '--name', 'me', '--cluster', clusterFile, mnt] }, async ({ mnt }) => {
        assert.deepEqual(await statusRows(mnt), ['me 0 local', 'a 1 up', 'b 2 up']);

        await writeCluster(clusterFile, [a, b, c]);
        await eventually(async () => assert.deepEqual(await statusRows(mnt), ['me 0 local', 'a 1 up', 'b 2 up', 'c 3 up']), WITHIN_MS, 'c joins');
        await eventually(async () => assert.ok(pidNames(await readdir(mnt)).includes(3 * PID_SPACE + 1), 'c\'s pid 1'), 3000, 'c\'s processes listed');
        assert.deepEqual((await readdir(join(mnt, 'hosts'))).sort(), ['a', 'b', 'c', 'me']);

        await writeFile(clusterFile, '{"hosts": [');
        await new Promise((resolve) => setTimeout(resolve, CLUSTER_FILE_PERIOD_MS * 2));
        assert.deepEqual(await statusRows(mnt), ['me 0 local', 'a 1 up', 'b 2 up', 'c 3 up'], 'a broken file leaves the hosts as they were');

        await writeCluster(clusterFile, [a, b]);
        await eventually(async () => assert.deepEqual(await statusRows(mnt), ['me 0 local', 'a 1 up', 'b 2 up']), WITHIN_MS, 'c leaves');
        await eventually(async () => assert.ok(!pidNames(await readdir(mnt)).some((pid) => Math.floor(pid / PID_SPACE) === 3), 'none of c\'s pids'), 3000, 'c\'s processes gone');
        await assert.rejects(readdir(join(mnt, 'hosts/c')), { code: 'ENOENT' });
      });
    });
  }));
});
