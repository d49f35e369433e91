import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { listedMount, runKmx, sh } from '@kmx/core/testing';
import { mustKmxInit, withEnc, withKmxMount } from './helpers.js';

/**
 * kmx enc when its server is killed mid-write, as the README's fault table gives it (a full disk
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
    const writer = spawn('python3', ['-c', [
      'import os',
      `f = os.open('${mnt}/log', os.O_WRONLY | os.O_CREAT)`,
      'n = 0',
      'try:',
      '    while True:',
      '        os.write(f, b"%08d\\n" % n); n += 1',
      '        if n % 500 == 0: os.fsync(f); print("synced", n, flush=True)',
      'except OSError as e:',
      '    print("error", n, e.strerror, flush=True)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    writer.stdout.on('data', (d: Buffer) => (said += d.toString()));
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    try {
      while ((said.match(/^synced/gm) ?? []).length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(await stop('SIGKILL'), 'SIGKILL');
      await exited;
    } finally {
      writer.kill('SIGKILL');
    }
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
      assert.deepEqual(lines, Array.from({ length: lines.length }, (_, i) => String(i).padStart(8, '0')));
    });
  }));
});
