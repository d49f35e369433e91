import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { mountsUnder, runKmx, sh, withTestMount } from '@kmx/core/testing';

interface ListedMount {
  mountpoint: string;
  state: string;
  engine: string | null;
  pid: number | null;
}

async function listed(mnt: string): Promise<ListedMount | undefined> {
  const r = await runKmx(['mounts', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as ListedMount[]).find((m) => m.mountpoint === mnt);
}

/** The mount's listing once its state is `state`: kmx mounts gives a probe 2 s, which a loaded machine can exceed. */
async function listedAs(mnt: string, state: string): Promise<ListedMount | undefined> {
  let seen: ListedMount | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    seen = await listed(mnt);
    if (seen?.state === state) return seen;
    await sleep(500);
  }
  return seen;
}

describe('a mount whose server died', () => {
  it('shows as stale in kmx mounts, and kmx umount clears it', () => withTestMount({
    prepare: ({ dir }) => mkdir(join(dir, 'src')),
    args: ({ dir, mnt }) => ['passthrough', join(dir, 'src'), mnt],
  }, async ({ dir, mnt, server, stop }) => {
    const live = await listedAs(mnt, 'ok');
    assert.equal(live?.state, 'ok');
    assert.equal(live?.pid, server.pid);
    assert.equal(live?.engine, process.env.KMX_FUSE_ENGINE ?? live?.engine);

    assert.equal(await stop('SIGKILL'), 'SIGKILL');
    const stat = await sh(`stat '${mnt}'`);
    assert.match(stat.stderr, /not connected/i);
    assert.equal((await listedAs(mnt, 'stale'))?.state, 'stale');

    const umount = await runKmx(['umount', mnt]);
    assert.equal(umount.code, 0, umount.stderr);
    assert.deepEqual(await mountsUnder(dir), []);
    assert.equal(await listed(mnt), undefined);
  }));
});
