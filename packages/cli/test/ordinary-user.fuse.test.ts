import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kmxBin, listedMount, mountsUnder, run, runKmx, temporaryDirectory } from '@kmx/core/testing';

/**
 * An ordinary user mounts through setuid fusermount3. That needs a user with a name (a real
 * passwd entry: the test makes one and removes it) and /dev/fuse open to users, its usual
 * mode 0666, which these machines do not have: the test sets it and puts the old mode back.
 */
async function asOrdinaryUser(body: (user: { name: string; uid: number; dir: string; kmx: (args: string[]) => ReturnType<typeof run> }) => Promise<void>): Promise<void> {
  const name = `kmxt${randomBytes(3).toString('hex')}`;
  const created = await run('useradd', ['-M', '-K', 'UID_MIN=42000', '-K', 'UID_MAX=43000', '-s', '/usr/sbin/nologin', name]);
  assert.equal(created.code, 0, created.stderr);
  const deviceMode = (await stat('/dev/fuse')).mode & 0o777;
  try {
    const uid = Number((await run('id', ['-u', name])).stdout.trim());
    await chmod('/dev/fuse', 0o666);
    await temporaryDirectory(async (dir) => {
      await chmod(dir, 0o755);
      for (const sub of ['src', 'mnt', 'run']) {
        await mkdir(join(dir, sub));
        await chown(join(dir, sub), uid, uid);
      }
      await chmod(join(dir, 'run'), 0o700);
      const kmx = (args: string[]): ReturnType<typeof run> => run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, kmxBin(), ...args],
        { env: { ...process.env, HOME: join(dir, 'run'), XDG_RUNTIME_DIR: join(dir, 'run') } });
      await body({ name, uid, dir, kmx });
    });
  } finally {
    await chmod('/dev/fuse', deviceMode);
    // -f: the user's daemon may still be on its way out after its unmount.
    const removed = await run('userdel', ['-f', name]);
    assert.equal(removed.code, 0, removed.stderr);
  }
}

describe('an ordinary user', () => {
  it('mounts, lists and unmounts through fusermount3, and cannot unmount root\'s mounts', () => asOrdinaryUser(async ({ uid, dir, kmx }) => {
    const src = join(dir, 'src');
    const mnt = join(dir, 'mnt');
    const mounted = await kmx(['passthrough', '--daemon', src, mnt]);
    assert.equal(mounted.code, 0, mounted.stderr);
    const write = await run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', `echo hi > '${mnt}/f' && stat -c '%u' '${mnt}/f'`]);
    assert.equal(write.stdout.trim(), String(uid), write.stderr);
    assert.equal((await stat(join(src, 'f'))).uid, uid);
    const mine = await listedMount(mnt, 'ok', kmx);
    assert.equal(mine?.state, 'ok');
    assert.ok(mine?.pid, 'the user reads their own mount record');

    // root's mount next door: the user may not take it down.
    await mkdir(join(dir, 'rootmnt'));
    await writeFile(join(dir, 'rootsrc'), '');
    const rootSrc = join(dir, 'rootsrc-dir');
    await mkdir(rootSrc);
    const rootMount = await runKmx(['passthrough', '--daemon', rootSrc, join(dir, 'rootmnt')]);
    assert.equal(rootMount.code, 0, rootMount.stderr);
    const refused = await kmx(['umount', join(dir, 'rootmnt')]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^kmx: cannot unmount .*rootmnt: .*\n$/);
    assert.equal((await runKmx(['umount', join(dir, 'rootmnt')])).code, 0);

    const unmounted = await kmx(['umount', mnt]);
    assert.equal(unmounted.code, 0, unmounted.stderr);
    assert.deepEqual(await mountsUnder(dir), []);
  }));
});
