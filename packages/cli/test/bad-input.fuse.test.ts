import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertCleanFailure, mountsUnder, run, runKmx, sh, temporaryDirectory, kmxBin } from '@kmx/core/testing';

describe('bad input: one line, non-zero exit, nothing left behind', () => {
  it('a mountpoint that does not exist', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    const r = await runKmx(['passthrough', join(dir, 'src'), join(dir, 'nope')]);
    await assertCleanFailure(r, dir, /does not exist; create it first: mkdir -p/, { exitCode: 1 });
  }));

  it('a mountpoint that is a file', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'file'), 'x');
    await assertCleanFailure(await runKmx(['passthrough', join(dir, 'src'), join(dir, 'file')]), dir, /is not a directory/, { exitCode: 1 });
  }));

  it('a mountpoint that is already mounted', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await mkdir(join(dir, 'mnt'));
    const tmpfs = await sh(`mount -t tmpfs kmxtest '${dir}/mnt'`);
    assert.equal(tmpfs.code, 0, tmpfs.stderr);
    const r = await runKmx(['passthrough', join(dir, 'src'), join(dir, 'mnt')]);
    assert.match(r.stderr, /already a mount point \(tmpfs from kmxtest\); unmount it first/);
    await sh(`umount '${dir}/mnt'`);
    await assertCleanFailure(r, dir, /already a mount point/, { exitCode: 1 });
  }));

  it('a source that does not exist, or is a file, or contains the mountpoint', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'mnt'));
    await writeFile(join(dir, 'file'), 'x');
    await assertCleanFailure(await runKmx(['passthrough', join(dir, 'gone'), join(dir, 'mnt')]), dir, /source directory .* does not exist/, { exitCode: 1 });
    await assertCleanFailure(await runKmx(['passthrough', join(dir, 'file'), join(dir, 'mnt')]), dir, /source directory .* is not a directory/, { exitCode: 1 });
    await assertCleanFailure(await runKmx(['passthrough', dir, join(dir, 'mnt')]), dir, /must not contain each other/, { exitCode: 1 });
  }));

  it('unknown commands, flags, options and engines, and missing arguments', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'mnt'));
    await assertCleanFailure(await runKmx(['frobnicate']), dir, /unknown command "frobnicate"/, { exitCode: 2 });
    await assertCleanFailure(await runKmx(['passthrough']), dir, /Missing 2 required args?.*see: kmx passthrough --help/, { exitCode: 2 });
    await assertCleanFailure(await runKmx(['passthrough', '--bogus', dir, join(dir, 'mnt')]), dir, /Nonexistent flag: --bogus/, { exitCode: 2 });
    await assertCleanFailure(await runKmx(['passthrough', '-o', 'nosuchoption', dir, join(dir, 'mnt')]), dir, /unknown mount option "nosuchoption"; known options: allow_other/, { exitCode: 2 });
    await assertCleanFailure(await runKmx(['passthrough', '-o', 'attr_timeout=soon', dir, join(dir, 'mnt')]), dir, /needs a number/, { exitCode: 2 });
    await assertCleanFailure(await runKmx(['passthrough', '--fuse-engine', 'warp', dir, join(dir, 'mnt')]), dir, /Expected --fuse-engine=warp to be one of/, { exitCode: 2 });
  }));

  it('a host without /dev/fuse', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await mkdir(join(dir, 'mnt'));
    // A private mount namespace whose /dev is an empty tmpfs: no /dev/fuse in there.
    const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      `mount -t tmpfs none /dev && exec "$0" "$@"`, process.execPath, kmxBin(), 'passthrough', join(dir, 'src'), join(dir, 'mnt')]);
    await assertCleanFailure(r, dir, /this host has no \/dev\/fuse; load the fuse module/, { exitCode: 1 });
  }));

  it('no permission on the mountpoint', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await mkdir(join(dir, 'mnt'));
    await chmod(dir, 0o755);
    const r = await run('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', process.execPath, kmxBin(), 'passthrough', join(dir, 'src'), join(dir, 'mnt')],
      { env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: '' } });
    await assertCleanFailure(r, dir, /no permission to mount on .*; mount on a directory you own/, { exitCode: 1 });
  }));

  it('--daemon reports the child\'s failure and leaves no process', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'mnt'), 'not a dir');
    await assertCleanFailure(await runKmx(['passthrough', '--daemon', join(dir, 'src'), join(dir, 'mnt')]), dir, /is not a directory/, { exitCode: 1 });
  }));

  it('umount of a path that is not a kmx mount', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'plain'));
    await assertCleanFailure(await runKmx(['umount', join(dir, 'plain')]), dir, /is not a mount point/, { exitCode: 1 });
    await mkdir(join(dir, 'tmpfs'));
    await sh(`mount -t tmpfs kmxtest '${dir}/tmpfs'`);
    const r = await runKmx(['umount', join(dir, 'tmpfs')]);
    const stillMounted = await mountsUnder(dir);
    await sh(`umount '${dir}/tmpfs'`);
    assert.deepEqual(stillMounted, [join(dir, 'tmpfs')], 'kmx umount must not touch other mounts');
    await assertCleanFailure(r, dir, /is not a kmx mount \(it is tmpfs from kmxtest\); use umount\(8\)/, { exitCode: 1 });
  }));
});
