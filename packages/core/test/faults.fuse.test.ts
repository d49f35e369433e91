import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lineWriter, listedMount, python, runKmx, sh, withTestMount, writtenLines } from '@kmx/core/testing';

/**
 * kmx passthrough under faults, row by row as the fault table in docs/architecture.md gives them: what the
 * writer sees, what `kmx mounts` says, what survives, and how it recovers.
 */

const passthrough = (prepare?: (src: string) => Promise<void>) => ({
  prepare: async ({ dir }: { dir: string }) => {
    await mkdir(join(dir, 'src'));
    await prepare?.(join(dir, 'src'));
  },
  args: ({ dir, mnt }: { dir: string; mnt: string }) => ['passthrough', join(dir, 'src'), mnt],
});

describe('kmx passthrough under faults', () => {
  it('backing store full: ENOSPC at the write, the old data kept, ok once there is room', () => withTestMount(passthrough(async (src) => {
    const r = await sh(`mount -t tmpfs -o size=1m kmxtest '${src}'`);
    assert.equal(r.code, 0, r.stderr);
  }), async ({ dir, mnt }) => {
    const old = Buffer.alloc(100_000, 'o');
    await writeFile(join(mnt, 'kept'), old);
    const out = await python([
      'import os',
      `f = os.open('${mnt}/filler', os.O_WRONLY | os.O_CREAT)`,
      'try:',
      '    while True: os.write(f, b"x" * 65536)',
      'except OSError as e: print("fill:", e.strerror)',
      'os.close(f)',
      `k = os.open('${mnt}/kept', os.O_WRONLY | os.O_APPEND)`,
      'appended = 0',
      'try:',
      '    while True: appended += os.write(k, b"y" * 65536)',
      'except OSError as e: print("append:", e.strerror)',
      'os.close(k)',
      'print(appended)',
    ]);
    const [fill, append, appended] = out.stdout.trim().split('\n');
    assert.deepEqual([fill, append], ['fill: No space left on device', 'append: No space left on device'], out.stderr);
    const kept = await readFile(join(dir, 'src', 'kept'));
    assert.ok(kept.subarray(0, old.length).equals(old), 'what was there before is intact');
    assert.equal(kept.length, old.length + Number(appended), 'and every byte a write reported is there');
    assert.equal((await listedMount(mnt, 'ok'))?.state, 'ok');
    const again = await sh(`rm '${mnt}/filler' && printf more >> '${mnt}/kept' && tail -c 4 '${mnt}/kept'`);
    assert.equal(again.stdout, 'more', again.stderr);
  }));

  it('server killed mid-write: ENOTCONN or ECONNABORTED, stale in kmx mounts, every write that returned is in the backing file; kmx umount and a new mount recover', () => withTestMount(passthrough(), async ({ dir, mnt, stop }) => {
    // The writer reports every hundred lines written; the server dies under it.
    const writer = lineWriter(join(mnt, 'log'));
    try {
      await writer.reached(100);
      assert.equal(await stop('SIGKILL'), 'SIGKILL');
      await writer.exited;
    } finally {
      writer.kill();
    }
    const said = writer.said();
    const [, returned, error] = /^error (\d+) (.*)$/m.exec(said) ?? [];
    // ECONNABORTED for a write the server had in hand when it died, ENOTCONN for one after.
    assert.match(error ?? '', /^(Transport endpoint is not connected|Software caused connection abort)$/, said);
    // passthrough writes through (no writeback cache unless asked): each write that returned landed.
    const landed = await readFile(join(dir, 'src', 'log'), 'utf8');
    assert.ok(landed.length >= Number(returned) * 9, `${landed.length} bytes landed for ${returned} writes`);
    assert.deepEqual(landed.split('\n').slice(0, Number(returned)), writtenLines(Number(returned)));
    assert.equal((await listedMount(mnt, 'stale'))?.state, 'stale');
    const cleared = await runKmx(['umount', mnt]);
    assert.equal(cleared.code, 0, cleared.stderr);
    const remount = await runKmx(['passthrough', '--daemon', join(dir, 'src'), mnt]);
    assert.equal(remount.code, 0, remount.stderr);
    try {
      assert.equal((await stat(join(mnt, 'log'))).size, landed.length);
    } finally {
      assert.equal((await runKmx(['umount', mnt])).code, 0);
    }
  }));
});
