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

  it('answers many concurrent requests', () =>
    withTestMount({ program: serve, args: ({ mnt }) => ['null', mnt] }, async ({ mnt }) => {
      const r = await sh(`for i in $(seq 1 8); do (for j in $(seq 1 200); do stat -c %s '${mnt}/f'$j; done > /dev/null) & done; wait; echo done`);
      assert.equal(r.stdout.trim(), 'done');
    }));
});
