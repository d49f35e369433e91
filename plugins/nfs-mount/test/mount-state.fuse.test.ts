import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive, readMountRecords, runtimeDir, unmountPath } from '@kmx/core';
import { assertOneLineError, listedMount, mountsUnder, runKmx, withTestMount } from '@kmx/core/testing';
import type { NfsMountRow } from '../src/lib/mounts.js';
import { serverArgs, uniqueName, userspaceArgs, withGanesha } from './harness.js';

/** kmx nfs keeps its record of a user-space mount straight: a refused request, a dead mount. */

const noDaemon = { env: { ...process.env, KMXD_SOCKET: '/nonexistent/kmxd.sock' } };
const recordOf = (name: string): string => join(runtimeDir(), 'nfs', `${encodeURIComponent(name)}.json`);
const defaultMountpoint = (name: string): string => join(runtimeDir(), 'nfs', 'mnt', name);

async function nfsListed(name: string): Promise<NfsMountRow | undefined> {
  const r = await runKmx(['nfs', 'list', '--json'], noDaemon);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { mounts: NfsMountRow[] }).mounts.find((m) => m.name === name);
}

/** Whatever a mount named `name` at its default mountpoint left: its servers (by pid), the mount, its record and directory. */
async function cleanUp(name: string, logs: string[]): Promise<void> {
  const mountpoint = defaultMountpoint(name);
  for (const r of await readMountRecords()) {
    if (r.mountpoint !== mountpoint || !processAlive(r.pid)) continue;
    process.kill(r.pid, 'SIGKILL');
    for (let i = 0; i < 100 && processAlive(r.pid); i++) await sleep(50);
  }
  for (const log of logs) rmSync(log, { force: true }); // a killed server's log stays (kmx mounts shows it)
  for (const m of await mountsUnder(mountpoint)) await unmountPath(m, { lazy: true }).catch(() => undefined);
  rmSync(recordOf(name), { force: true });
  try {
    rmdirSync(mountpoint);
  } catch {
    // not there
  }
}

describe('kmx nfs user-space mount records', () => {
  it('a request for a name or mountpoint in use is refused in one line and leaves the mount, its record and link alone', () => withGanesha(async (g, dir) => {
    const name = uniqueName('s');
    const link = join(dir, 'link');
    const source = `127.0.0.1:${g.exportPath}`;
    await withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, '3', ['--link', link], name) }, async (m) => {
      // The name again: in the background at its default mountpoint, and with the same link.
      const again = await runKmx(['nfs', 'mount', source, name, '--userspace', ...serverArgs(g, '3'), '--link', link], noDaemon);
      assertOneLineError(again, new RegExp(`${name} is already mounted: 127\\.0\\.0\\.1:/export on ${m.mnt}, served by pid \\d+; unmount it first \\(kmx nfs umount ${name}\\)`));
      // Its mountpoint, under another name, in the foreground.
      const other = uniqueName('s');
      assertOneLineError(await runKmx(['nfs', 'mount', source, other, '--userspace', '--foreground', ...serverArgs(g, '3'), '--mountpoint', m.mnt], noDaemon), new RegExp(`${m.mnt} is already a kmx nfs mount \\(127\\.0\\.0\\.1:/export, named ${name}\\)`));
      // Nothing was made for the refused requests, and nothing of the mount was touched.
      for (const path of [recordOf(other), defaultMountpoint(other), defaultMountpoint(name)]) assert.equal(existsSync(path), false, `${path} was left behind`);
      assert.equal(readlinkSync(link), m.mnt);
      const listed = await nfsListed(name);
      assert.deepEqual([listed?.mountpoint, listed?.state, listed?.link], [m.mnt, 'ok', link]);
      // And it can still be unmounted by name, its link with it.
      const u = await runKmx(['nfs', 'umount', name, '--unlink'], noDaemon);
      assert.equal(u.code, 0, u.stderr);
      assert.equal(u.stdout, `kmx nfs: unmounted ${m.mnt}; removed ${link}\n`);
      assert.equal(existsSync(link), false);
      assert.deepEqual(await mountsUnder(m.mnt), []);
      assert.equal(existsSync(recordOf(name)), false);
    });
  }));

  it('a dead mount of ours (its serving process killed) is listed stale, then cleared and replaced by a mount of its name', () => withGanesha(async (g) => {
    const name = uniqueName('d');
    const mountpoint = defaultMountpoint(name);
    const args = ['nfs', 'mount', `127.0.0.1:${g.exportPath}`, name, '--userspace', ...serverArgs(g, '3')];
    const logs: string[] = [];
    try {
      writeFileSync(join(g.exportDir, 'f'), 'served');
      const first = await runKmx(args, noDaemon);
      assert.equal(first.code, 0, first.stderr);
      const server = (await readMountRecords()).find((r) => r.mountpoint === mountpoint);
      assert.ok(server, 'the mount is recorded');
      if (server.log) logs.push(server.log);
      process.kill(server.pid, 'SIGKILL'); // the test's own (through kmx), by pid
      for (let i = 0; i < 100 && processAlive(server.pid); i++) await sleep(50);
      assert.equal((await listedMount(mountpoint, 'stale'))?.state, 'stale');
      assert.equal((await nfsListed(name))?.state, 'stale');

      const again = await runKmx(args, noDaemon);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stderr, '');
      assert.match(again.stdout, new RegExp(`^kmx nfs: cleared a dead mount of 127\\.0\\.0\\.1:/export on ${mountpoint} \\(its serving process had exited\\)\\nkmx nfs: 127\\.0\\.0\\.1:/export mounted on ${mountpoint} \\(pid \\d+\\)\\n$`));
      assert.equal(readFileSync(join(mountpoint, 'f'), 'utf8'), 'served');
      assert.equal((await nfsListed(name))?.state, 'ok');
      const u = await runKmx(['nfs', 'umount', name], noDaemon);
      assert.equal(u.code, 0, u.stderr);
      assert.equal(existsSync(mountpoint), false, 'the mountpoint kmx made is gone');
      assert.equal(existsSync(recordOf(name)), false);
    } finally {
      await cleanUp(name, logs);
    }
  }));
});
