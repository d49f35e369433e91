import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertOneLineError, runKmx, withTestMount } from '@kmx/core/testing';
import { startBackup } from './backup-process.js';
import { uniqueName, userspaceArgs, withGanesha } from './harness.js';
import { until } from './until.js';

/**
 * kmx nfs backup --watch into a user-space NFS mount whose server is killed and started again:
 * the destination fails with EIO meanwhile (a real transient error), the watcher says so in one
 * line, tries again with backoff and resumes once the mount is back.
 */

const noDaemon = { ...process.env, KMXD_SOCKET: '/nonexistent/kmxd.sock' };

describe('kmx nfs backup --watch through an outage of the target', () => {
  it('says so in one line, tries again with backoff and resumes when the target is back', () => withGanesha(async (g) => {
    await withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, '3', ['--timeout', '2'], uniqueName('b')) }, async (m) => {
      const src = join(m.dir, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'one'), '1');
      const backup = startBackup(['--watch', '--debounce', '200', src, join(m.mnt, 'backup')], noDaemon);
      try {
        await until('watching', () => backup.out().includes('watching'));
        assert.equal(readFileSync(join(g.exportDir, 'backup', 'one'), 'utf8'), '1');

        await g.kill(); // SIGKILL, by pid
        writeFileSync(join(src, 'two'), '2');
        await until('the failure to be told', () => /sync failed, trying again with backoff/.test(backup.out()), 60_000);
        assert.match(backup.out(), /^kmx nfs backup: sync failed, trying again with backoff \(up to every 60 s\) until it works: rsync failed \(exit \d+\): .*Input\/output error/m);
        // A one-shot backup meanwhile fails at once, in one line.
        assertOneLineError(await runKmx(['nfs', 'backup', src, join(m.mnt, 'other')], { env: noDaemon }), /cannot reach the target's parent directory .*: i\/o error \(EIO\)|rsync failed .*Input\/output error/);
        assert.equal(backup.exitCode(), null, `the watcher ended: ${backup.out()}${backup.err()}`);

        await g.restart(); // the same ports and export
        await until('the sync to resume', () => existsSync(join(g.exportDir, 'backup', 'two')) && /synced changes/.test(backup.out()), 60_000);
        assert.equal(readFileSync(join(g.exportDir, 'backup', 'two'), 'utf8'), '2');
        assert.match(backup.out(), /^kmx nfs backup: syncing works again after \d+ s$/m);
        assert.equal(backup.out().match(/^kmx nfs backup: sync failed/gm)?.length, 1, `told once: ${backup.out()}`);
        assert.doesNotMatch(`${backup.out()}${backup.err()}`, /this is a bug in kmx|^\s+at /m);
      } finally {
        await backup.stop();
      }
      assert.equal(await backup.exited, 0, backup.err());
      assert.match(backup.out(), /stopped watching; in all/);
    });
  }));
});
