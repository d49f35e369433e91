import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { selectEngine } from '@kmx/core';
import { listedMount, mountsUnder, runKmx, sh, withTestMount } from '@kmx/core/testing';

describe('a mount whose server died', () => {
  it('shows as stale in kmx mounts, and kmx umount clears it', () => withTestMount({
    prepare: ({ dir }) => mkdir(join(dir, 'src')),
    args: ({ dir, mnt }) => ['passthrough', join(dir, 'src'), mnt],
  }, async ({ dir, mnt, server, stop }) => {
    const live = await listedMount(mnt, 'ok');
    assert.equal(live?.state, 'ok');
    assert.equal(live?.pid, server.pid);
    assert.equal(live?.engine, selectEngine().name, 'the engine asked for ($KMX_FUSE_ENGINE), else the preferred one');

    assert.equal(await stop('SIGKILL'), 'SIGKILL');
    const stat = await sh(`stat '${mnt}'`);
    assert.match(stat.stderr, /not connected/i);
    assert.equal((await listedMount(mnt, 'stale'))?.state, 'stale');

    const umount = await runKmx(['umount', mnt]);
    assert.equal(umount.code, 0, umount.stderr);
    assert.deepEqual(await mountsUnder(dir), []);
    assert.equal(await listedMount(mnt), undefined);
  }));
});
