import assert from 'node:assert/strict';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { mountsUnder, run, sh, temporaryDirectory, withTestMount } from '@kmx/core/testing';

const serve = fileURLToPath(new URL('./fixtures/serve.js', import.meta.url));

describe('the FUSE layer', () => {
  it('lets an operation take longer than 15 s (fuse-native used to fail it with ETIMEDOUT)', () =>
    withTestMount({ program: serve, args: ({ mnt }) => ['slow', mnt] }, async ({ mnt }) => {
      const r = await sh(`cat '${mnt}/slow'`, { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'worth the wait\n');
    }));

  it('a mount whose root does not answer fails with one line and leaves no mount', () => temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const r = await run(process.execPath, [serve, 'broken-root', mnt], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^kmx: mounting broken-root on .* failed/m);
    assert.deepEqual(await mountsUnder(dir), []);
  }));

  it('gives every operation the caller\'s uid, gid and pid', () =>
    // The temporary directory is private (0700): open it so that another user reaches the mount.
    withTestMount({ program: serve, prepare: ({ dir }) => chmod(dir, 0o755), args: ({ mnt }) => ['whoami', mnt] }, async ({ mnt }) => {
      const root = await sh(`echo $$; exec cat '${mnt}/me'`);
      const [pid, identity] = root.stdout.trim().split('\n');
      assert.equal(identity, `0 0 ${pid}`);
      const other = await run('setpriv', ['--reuid=4242', '--regid=4343', '--clear-groups', 'sh', '-c', `echo $$; exec cat '${mnt}/me'`]);
      const [otherPid, otherIdentity] = other.stdout.trim().split('\n');
      assert.equal(otherIdentity, `4242 4343 ${otherPid}`, other.stderr);
    }));

  it('answers many concurrent requests, each with its own answer', () =>
    withTestMount({ program: serve, args: ({ mnt }) => ['null', mnt] }, async ({ mnt }) => {
      // 8 readers stat 200 names each at once; a name's size is its leading number.
      const r = await sh(`cd '${mnt}' && for i in $(seq 1 8); do (for j in $(seq 1 200); do stat -c '%n %s' $j-by-$i || echo "failed $j-by-$i"; done) & done; wait`);
      assert.equal(r.stderr, '');
      const lines = r.stdout.trim().split('\n');
      const expected = Array.from({ length: 8 }, (_, i) => Array.from({ length: 200 }, (_, j) => `${j + 1}-by-${i + 1} ${j + 1}`)).flat();
      assert.deepEqual([...lines].sort(), expected.sort());
    }));
});
