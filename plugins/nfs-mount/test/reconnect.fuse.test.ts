import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readMountRecords } from '@kmx/core';
import { assertOneLineError, listedMount, runKmx, withTestMount } from '@kmx/core/testing';
import type { NfsMountRow } from '../src/lib/mounts.js';
import { serverArgs, uniqueName, userspaceArgs, withGanesha } from './harness.js';

/**
 * kmx nfs --userspace when its NFS server is killed and started again: operations fail with
 * EIO within the timeout meanwhile, the listings say the mount is down, and the mount comes
 * back by itself (reads, writes, and files that were open across the outage).
 */

const noDaemon = { env: { ...process.env, KMXD_SOCKET: '/nonexistent/kmxd.sock' } };
const TIMEOUT_S = 2;

/** The status the serving process wrote into its mount record, once it matches `pattern`. */
async function statusMatching(mnt: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let status: string | undefined;
  while (Date.now() < deadline) {
    status = (await readMountRecords()).find((r) => r.mountpoint === mnt)?.status;
    if (status !== undefined && pattern.test(status)) return status;
    await sleep(100);
  }
  throw new Error(`the mount's status is ${String(status)}, not ${String(pattern)}, after ${timeoutMs} ms`);
}

async function nfsListed(name: string): Promise<NfsMountRow | undefined> {
  const r = await runKmx(['nfs', 'list', '--json'], noDaemon);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { mounts: NfsMountRow[] }).mounts.find((m) => m.name === name);
}

for (const version of ['3', '4'] as const) {
  describe(`user-space NFS v${version === '4' ? '4.0' : '3'} across a server restart`, () => {
    it('fails with EIO within the timeout while the server is down, says so, and reconnects by itself', () => withGanesha(async (g) => {
      const name = uniqueName(`r${version}`);
      await withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version, ['--timeout', String(TIMEOUT_S)], name) }, async (m) => {
        writeFileSync(join(g.exportDir, 'a'), 'before');
        const data = randomBytes(256 * 1024);
        writeFileSync(join(g.exportDir, 'big'), data);
        assert.equal(await readFile(join(m.mnt, 'a'), 'utf8'), 'before');
        assert.equal(await statusMatching(m.mnt, /./), 'connected');
        const reader = await open(join(m.mnt, 'big'), 'r'); // nothing read yet: no page is cached
        const kept = await open(join(m.mnt, 'kept'), 'w+');
        const unsynced = await open(join(m.mnt, 'unsynced'), 'w+');
        try {
          await kept.write('kept before;', 0);
          await kept.sync();
          await unsynced.write('not committed', 0);
          // Written on the server (uncommitted), and answered: a write still in flight would be
          // sent again on the new connection instead.
          const onServer = (): string => (existsSync(join(g.exportDir, 'unsynced')) ? readFileSync(join(g.exportDir, 'unsynced'), 'utf8') : '');
          for (const deadline = Date.now() + 10_000; onServer() !== 'not committed' && Date.now() < deadline;) await sleep(50);
          assert.equal(onServer(), 'not committed');
          await sleep(300);

          await g.kill(); // SIGKILL, by pid
          let started = Date.now();
          await assert.rejects(stat(join(m.mnt, 'not-looked-up-yet')), { code: 'EIO' });
          const lookupMs = Date.now() - started;
          assert.ok(lookupMs < TIMEOUT_S * 1000 + 2500, `a lookup failed after ${lookupMs} ms`);
          started = Date.now();
          await assert.rejects(reader.read(Buffer.alloc(65536), 0, 65536, 65536), { code: 'EIO' });
          assert.ok(Date.now() - started < TIMEOUT_S * 1000 + 2500, `a read failed after ${Date.now() - started} ms`);
          await assert.rejects(writeFile(join(m.mnt, 'new'), 'x'), { code: 'EIO' });

          // The listings tell the truth: down since when, reconnecting.
          await statusMatching(m.mnt, /^reconnecting: down since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: /);
          assert.match((await listedMount(m.mnt))?.status ?? '', /^reconnecting: down since /);
          const down = await nfsListed(name);
          assert.equal(down?.state, 'down', JSON.stringify(down));
          assert.match(down?.detail ?? '', /^down \(reconnecting: down since .*\), NFSv/);
          // Asking for the name again is refused in one line, and changes nothing.
          assertOneLineError(await runKmx(['nfs', 'mount', `127.0.0.1:${g.exportPath}`, name, '--userspace', ...serverArgs(g, version)], noDaemon), new RegExp(`${name} is already mounted: .*its NFS server does not answer \\(reconnecting: down since .*it reconnects by itself`));

          await g.restart(); // the same ports and export
          const back = await statusMatching(m.mnt, /^reconnected /);
          assert.match(back, /^reconnected \d{4}-\d\d-\d\d \d\d:\d\d:\d\d after \d+ s down$/);
          const listed = await listedMount(m.mnt, 'ok');
          assert.equal(listed?.state, 'ok');
          assert.equal(listed?.status, back);
          assert.equal((await nfsListed(name))?.state, 'ok');

          // Reads and writes work again, new files and files open across the outage alike.
          assert.equal(await readFile(join(m.mnt, 'a'), 'utf8'), 'before');
          await writeFile(join(m.mnt, 'after'), 'written after');
          assert.equal(readFileSync(join(g.exportDir, 'after'), 'utf8'), 'written after');
          const buffer = Buffer.alloc(data.length);
          const { bytesRead } = await reader.read(buffer, 0, data.length, 0);
          assert.equal(bytesRead, data.length);
          assert.ok(buffer.equals(data), 'the descriptor open across the outage reads the file');
          await kept.write('and after', 12);
          await kept.sync();
          assert.equal(readFileSync(join(g.exportDir, 'kept'), 'utf8'), 'kept before;and after');
          // Writes acknowledged but not committed when the connection broke: a restarted server
          // may have lost them, and the next fsync says so (once).
          await assert.rejects(unsynced.sync(), { code: 'EIO' });
          await unsynced.write('!', 13);
          await unsynced.sync();
        } finally {
          await reader.close().catch(() => undefined);
          await kept.close().catch(() => undefined);
          await unsynced.close().catch(() => undefined);
        }
      });
    }, { v3: version === '3' }));
  });
}
