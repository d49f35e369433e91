import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mountsUnder, run, runKmx, sh, temporaryDirectory, kmxBin, type RunResult } from '@kmx/core/testing';

/** Processes whose command line mentions `dir`: a failed command must leave none behind. */
async function processesMentioning(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir)) found.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
  }
  return found;
}

/** One clear line on stderr, a non-zero exit, no stack trace, nothing left mounted or running. */
async function assertCleanFailure(result: RunResult, dir: string, pattern: RegExp, exitCode?: number): Promise<void> {
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', /^kmx: /);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  assert.notEqual(result.code, 0);
  if (exitCode !== undefined) assert.equal(result.code, exitCode);
  assert.deepEqual(await mountsUnder(dir), [], 'nothing mounted');
  assert.deepEqual(await processesMentioning(dir), [], 'no process left');
}

describe('bad input: one line, non-zero exit, nothing left behind', () => {
  it('a mountpoint that does not exist', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    const r = await runKmx(['passthrough', join(dir, 'src'), join(dir, 'nope')]);
    await assertCleanFailure(r, dir, /does not exist; create it first: mkdir -p/, 1);
  }));

  it('a mountpoint that is a file', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'file'), 'x');
    await assertCleanFailure(await runKmx(['passthrough', join(dir, 'src'), join(dir, 'file')]), dir, /is not a directory/, 1);
  }));

  it('a mountpoint that is already mounted', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await mkdir(join(dir, 'mnt'));
    const tmpfs = await sh(`mount -t tmpfs kmxtest '${dir}/mnt'`);
    assert.equal(tmpfs.code, 0, tmpfs.stderr);
    const r = await runKmx(['passthrough', join(dir, 'src'), join(dir, 'mnt')]);
    assert.match(r.stderr, /already a mount point \(tmpfs from kmxtest\); unmount it first/);
    await sh(`umount '${dir}/mnt'`);
    await assertCleanFailure(r, dir, /already a mount point/, 1);
  }));

  it('a source that does not exist, or is a file, or contains the mountpoint', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'mnt'));
    await writeFile(join(dir, 'file'), 'x');
    await assertCleanFailure(await runKmx(['passthrough', join(dir, 'gone'), join(dir, 'mnt')]), dir, /source directory .* does not exist/, 1);
    await assertCleanFailure(await runKmx(['passthrough', join(dir, 'file'), join(dir, 'mnt')]), dir, /source directory .* is not a directory/, 1);
    await assertCleanFailure(await runKmx(['passthrough', dir, join(dir, 'mnt')]), dir, /must not contain each other/, 1);
  }));

  it('unknown commands, flags, options and engines, and missing arguments', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'mnt'));
    await assertCleanFailure(await runKmx(['frobnicate']), dir, /unknown command "frobnicate"/, 2);
    await assertCleanFailure(await runKmx(['passthrough']), dir, /Missing 2 required args?.*see: kmx passthrough --help/, 2);
    await assertCleanFailure(await runKmx(['passthrough', '--bogus', dir, join(dir, 'mnt')]), dir, /Nonexistent flag: --bogus/, 2);
    await assertCleanFailure(await runKmx(['passthrough', '-o', 'nosuchoption', dir, join(dir, 'mnt')]), dir, /unknown mount option "nosuchoption"; known options: allow_other/, 2);
    await assertCleanFailure(await runKmx(['passthrough', '-o', 'attr_timeout=soon', dir, join(dir, 'mnt')]), dir, /needs a number/, 2);
    await assertCleanFailure(await runKmx(['passthrough', '--fuse-engine', 'warp', dir, join(dir, 'mnt')]), dir, /Expected --fuse-engine=warp to be one of/, 2);
  }));

  it('a host without /dev/fuse', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await mkdir(join(dir, 'mnt'));
    // A private mount namespace whose /dev is an empty tmpfs: no /dev/fuse in there.
    const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      `mount -t tmpfs none /dev && exec "$0" "$@"`, process.execPath, kmxBin(), 'passthrough', join(dir, 'src'), join(dir, 'mnt')]);
    await assertCleanFailure(r, dir, /this host has no \/dev\/fuse; load the fuse module/, 1);
  }));

  it('no permission on the mountpoint', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await mkdir(join(dir, 'mnt'));
    await chmod(dir, 0o755);
    const r = await run('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', process.execPath, kmxBin(), 'passthrough', join(dir, 'src'), join(dir, 'mnt')],
      { env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: '' } });
    await assertCleanFailure(r, dir, /no permission to mount on .*; mount on a directory you own/, 1);
  }));

  it('--daemon reports the child\'s failure and leaves no process', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'mnt'), 'not a dir');
    await assertCleanFailure(await runKmx(['passthrough', '--daemon', join(dir, 'src'), join(dir, 'mnt')]), dir, /is not a directory/, 1);
  }));

  it('umount of a path that is not a kmx mount', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'plain'));
    await assertCleanFailure(await runKmx(['umount', join(dir, 'plain')]), dir, /is not a mount point/, 1);
    await mkdir(join(dir, 'tmpfs'));
    await sh(`mount -t tmpfs kmxtest '${dir}/tmpfs'`);
    const r = await runKmx(['umount', join(dir, 'tmpfs')]);
    const stillMounted = await mountsUnder(dir);
    await sh(`umount '${dir}/tmpfs'`);
    assert.deepEqual(stillMounted, [join(dir, 'tmpfs')], 'kmx umount must not touch other mounts');
    await assertCleanFailure(r, dir, /is not a kmx mount \(it is tmpfs from kmxtest\); use umount\(8\)/, 1);
  }));
});
