import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runKmx, temporaryDirectory } from '@kmx/core/testing';
import { startBackup } from './backup-process.js';
import { until } from './until.js';

/** kmx nfs backup: rsync once, watched, interrupted and resumed. */

describe('kmx nfs backup', () => {
  it('syncs once with a summary, then with --delete removes what is gone', () => temporaryDirectory(async (dir) => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'a');
    writeFileSync(join(src, 'sub', 'b.bin'), randomBytes(100_000));
    const first = await runKmx(['nfs', 'backup', src, join(dir, 'dst')]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /synced .*: 2 files copied \(0\.1 MiB\)/);
    assert.deepEqual(readFileSync(join(dir, 'dst', 'sub', 'b.bin')), readFileSync(join(src, 'sub', 'b.bin')));
    rmSync(join(src, 'a.txt'));
    const second = await runKmx(['nfs', 'backup', '--delete', src, join(dir, 'dst')]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /0 files copied \(0\.0 MiB\), 1 deleted/);
    assert.equal(existsSync(join(dir, 'dst', 'a.txt')), false);
  }));

  it('--watch brings changes made while watching to the target', () => temporaryDirectory(async (dir) => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    mkdirSync(src);
    writeFileSync(join(src, 'first.txt'), 'one');
    const backup = startBackup(['--watch', '--delete', '--debounce', '200', src, dst]);
    const out = (): string => backup.out() + backup.err();
    try {
      await until('watching', () => out().includes('watching'));
      assert.equal(readFileSync(join(dst, 'first.txt'), 'utf8'), 'one');
      mkdirSync(join(src, 'new', 'deep'), { recursive: true });
      writeFileSync(join(src, 'new', 'deep', 'file.txt'), 'made while watching');
      writeFileSync(join(src, 'first.txt'), 'changed');
      await until('the new file', () => existsSync(join(dst, 'new', 'deep', 'file.txt')) && readFileSync(join(dst, 'first.txt'), 'utf8') === 'changed');
      rmSync(join(src, 'first.txt'));
      // rsync deletes before it finishes: wait for that sync's summary, or SIGINT would interrupt it.
      await until('the deletion', () => !existsSync(join(dst, 'first.txt')) && /synced changes: .*deleted/.test(out()));
      assert.equal(readFileSync(join(dst, 'new', 'deep', 'file.txt'), 'utf8'), 'made while watching');
    } finally {
      await backup.stop();
    }
    assert.match(out(), /stopped watching; in all/);
  }));

  it('an interrupted sync leaves no half file in place and resumes on the next run', () => temporaryDirectory(async (dir) => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    mkdirSync(src);
    const data = randomBytes(16 * 1024 * 1024);
    writeFileSync(join(src, 'big'), data);
    const backup = startBackup(['--bwlimit', '2048', src, dst]);
    await until('a partial file', () => existsSync(join(dst, '.kmx-backup-partial')) || readdirSync(dst, { withFileTypes: true }).some((e) => e.name.startsWith('.big.')), 30_000).catch(() => undefined);
    await sleep(1500);
    const code = await backup.stop();
    assert.equal(code, 130, backup.err());
    assert.match(backup.err(), /backup interrupted.*run the same command again to resume/);
    assert.equal(existsSync(join(dst, 'big')), false, 'no half-copied file under its real name');
    const partial = join(dst, '.kmx-backup-partial', 'big');
    assert.ok(existsSync(partial), 'the partial file is kept for resuming');
    const again = await runKmx(['nfs', 'backup', src, dst]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(readFileSync(join(dst, 'big')), data);
    assert.equal(existsSync(partial), false);
  }));

  it('--watch ends at an error that trying again cannot mend, in one line with a non-zero exit', () => temporaryDirectory(async (dir) => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    mkdirSync(src);
    writeFileSync(join(src, 'first.txt'), 'one');
    const backup = startBackup(['--watch', '--debounce', '200', src, dst]);
    try {
      await until('watching', () => backup.out().includes('watching'));
      rmSync(dst, { recursive: true });
      writeFileSync(dst, 'the target is a file now');
      writeFileSync(join(src, 'second.txt'), 'two');
      const code = await Promise.race([backup.exited, sleep(30_000).then(() => 'still running')]);
      assert.equal(code, 1, `${backup.out()}${backup.err()}`);
    } finally {
      await backup.stop();
    }
    assert.equal(backup.err(), `kmx: backup stopped: the target ${dst} is no longer a directory (it is a regular file); fix it and run the same command again (what was synced stays)\n`);
    assert.doesNotMatch(backup.out(), /sync failed/);
  }));

  it('refuses bad paths with one line', () => temporaryDirectory(async (dir) => {
    for (const args of [['nfs', 'backup', join(dir, 'nope'), join(dir, 'dst')], ['nfs', 'backup', dir, join(dir, 'inside')], ['nfs', 'backup', dir, join(dir, 'no', 'parent')]]) {
      const r = await runKmx(args);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^kmx: /);
    }
  }));
});
