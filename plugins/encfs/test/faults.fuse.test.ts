import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lineWriter, listedMount, runKmx, sh, writtenLines } from '@kmx/core/testing';
import { mustKmxInit, withEnc, withKmxMount } from './helpers.js';

/**
 * kmx enc when its server is killed mid-write, as the fault table in docs/architecture.md gives it (a full disk
 * is write-safety.fuse.test.ts's): what the writer sees, what `kmx mounts` says, what survives.
 */

const BLOCK = 4096;

describe('kmx enc under faults', () => {
  it('server killed mid-write: ENOTCONN or ECONNABORTED, stale; every fsynced whole block reads back after a new mount', () => withEnc({
    prepare: async ({ dir }) => {
      await mkdir(join(dir, 'cipher'));
      await mustKmxInit([join(dir, 'cipher')]);
    },
    args: ({ dir, mnt }) => [join(dir, 'cipher'), mnt],
  }, async ({ dir, mnt, stop }) => {
    // Lines of 9 bytes, an fsync every 500 lines, each one reported; the server dies under it.
    const writer = lineWriter(join(mnt, 'log'), { fsyncEvery: 500 });
    try {
      await writer.reached(1500);
      assert.equal(await stop('SIGKILL'), 'SIGKILL');
      await writer.exited;
    } finally {
      writer.kill();
    }
    const said = writer.said();
    assert.match(said, /^error \d+ (Transport endpoint is not connected|Software caused connection abort)$/m, said);
    const synced = Math.max(...[...said.matchAll(/^synced (\d+)$/gm)].map((m) => Number(m[1])));
    assert.equal((await listedMount(mnt, 'stale'))?.state, 'stale');
    assert.equal((await runKmx(['umount', mnt])).code, 0);

    // A block rewritten in place when the server died may be torn (no journal, as in gocryptfs):
    // the fsynced lines in whole blocks before it must all be there.
    const whole = Math.floor((synced * 9) / BLOCK) * BLOCK;
    await withKmxMount([join(dir, 'cipher')], mnt, async () => {
      const r = await sh(`head -c ${whole} '${mnt}/log'`);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split('\n').slice(0, Math.floor(whole / 9));
      assert.deepEqual(lines, writtenLines(lines.length));
    });
  }));
});
