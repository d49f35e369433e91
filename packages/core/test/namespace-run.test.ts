import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { temporaryDirectory, rejectsSysError } from '@kmx/core/testing';
import { SysError } from '../src/errors/index.js';
import { HELPER_FAILED, mountAt, parseMountinfo, runWithBinds, spawnWithBinds, type BindSetup } from '../src/mount/index.js';

/** Commands in a private mount namespace with bind mounts that only they see. */


function collect(stream: Readable | null | undefined): () => string {
  let text = '';
  stream?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}

/** Waits for a spawned child; rejects with the SysError it reports. */
function finished(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: stdout(), stderr: stderr() }));
  });
}

/** `sh -c script` with binds; its output is captured. */
function shWithBinds(setup: BindSetup, script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return finished(spawnWithBinds(setup, 'sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

describe('runWithBinds and spawnWithBinds', () => {
  it('shows the command a bind that the host never sees', () => temporaryDirectory(async (dir) => {
    const source = join(dir, 'source');
    const target = join(dir, 'target');
    mkdirSync(source);
    mkdirSync(target);
    writeFileSync(join(source, 'only-in-source'), 'secret');
    const r = await shWithBinds({ binds: [{ source, target }] }, `cat '${target}/only-in-source'; echo; cat /proc/self/mountinfo`);
    assert.equal(r.code, 0, r.stderr);
    const [cat = '', ...table] = r.stdout.split('\n');
    assert.equal(cat, 'secret');
    const bound = mountAt(parseMountinfo(table.join('\n')), target);
    assert.ok(bound, 'the bind is in the command\'s mount table');
    assert.ok(bound.mountOptions.split(',').includes('nosuid') && bound.mountOptions.split(',').includes('nodev'), bound.mountOptions);
    assert.deepEqual(readdirSync(target), [], 'the host sees the empty directory');
    assert.equal(mountAt(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), target), undefined);
  }));

  it('makes a read-only bind read-only', () => temporaryDirectory(async (dir) => {
    const target = join(dir, 'target');
    mkdirSync(target);
    const r = await shWithBinds({ binds: [{ source: dir, target, readOnly: true }] }, `echo x > '${target}/new'`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Read-only file system/);
    assert.deepEqual(readdirSync(target), []);
  }));

  it('mounts a real procfs at procAt, even with something else bound over /proc', () => temporaryDirectory(async (dir) => {
    const realproc = join(dir, 'run', 'realproc');
    const fakeProc = join(dir, 'fake-proc');
    mkdirSync(fakeProc);
    writeFileSync(join(fakeProc, 'marker'), 'fake');
    const r = await shWithBinds({ procAt: realproc, binds: [{ source: fakeProc, target: '/proc' }] },
      `cat /proc/marker; echo; cat '${realproc}/self/comm'; cat '${realproc}/self/mountinfo'`);
    assert.equal(r.code, 0, r.stderr);
    const [marker, comm, ...table] = r.stdout.split('\n');
    assert.equal(marker, 'fake');
    assert.equal(comm, 'cat');
    const proc = mountAt(parseMountinfo(table.join('\n')), realproc);
    assert.equal(proc?.fstype, 'proc');
    assert.deepEqual(proc?.mountOptions.split(',').slice(1, 4), ['nosuid', 'nodev', 'noexec']);
    const ours = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    assert.equal(mountAt(ours, '/proc')?.fstype, 'proc', 'our /proc is untouched');
    assert.equal(mountAt(ours, realproc), undefined);
    assert.deepEqual(readdirSync(realproc), [], 'the directory is real, the mount private');
  }));

  it('resolves with the exit status, passes the environment and extra fds', () => temporaryDirectory(async (dir) => {
    assert.deepEqual(await runWithBinds({ binds: [] }, 'sh', ['-c', 'exit 7'], { stdio: 'ignore' }), { code: 7, signal: null });
    const child = spawnWithBinds({ binds: [] }, 'sh', ['-c', 'echo "$KMX_VALUE" >&3; pwd'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: { KMX_VALUE: 'passed', PATH: process.env.PATH }, cwd: dir,
    });
    const fd3 = collect(child.stdio[3] as Readable);
    const r = await finished(child);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fd3(), 'passed\n');
    assert.equal(r.stdout, `${dir}\n`);
  }));

  it('reports setup failures as SysErrors: missing source, symlinked target, unknown command', () => temporaryDirectory(async (dir) => {
    const target = join(dir, 'target');
    mkdirSync(target);
    symlinkSync(target, join(dir, 'link'));
    const quiet = { stdio: 'ignore' } as const;
    await rejectsSysError(runWithBinds({ binds: [{ source: join(dir, 'missing'), target }] }, 'true', [], quiet),
      { code: 'ENOENT', errno: 2, syscall: 'open_tree', path: join(dir, 'missing') });
    await rejectsSysError(runWithBinds({ binds: [{ source: dir, target: join(dir, 'link') }] }, 'true', [], quiet),
      { code: 'ELOOP', errno: 40, syscall: 'openat2', path: join(dir, 'link') });
    await rejectsSysError(runWithBinds({ binds: [] }, 'kmx-no-such-command', [], quiet),
      { code: 'ENOENT', errno: 2, syscall: 'execvp', path: 'kmx-no-such-command' });
    await rejectsSysError(runWithBinds({ binds: [], procAt: 'relative' }, 'true', [], quiet),
      { code: 'EINVAL', errno: 22, syscall: 'mount', path: 'relative' });

    // spawnWithBinds: the same failure as an 'error' event, and the helper's exit status.
    const child = spawnWithBinds({ binds: [{ source: join(dir, 'missing'), target }] }, 'true', [], quiet);
    const [error, status] = await Promise.all([
      new Promise((resolve) => child.on('error', resolve)),
      new Promise((resolve) => child.on('exit', resolve)),
    ]);
    assert.ok(error instanceof SysError && error.code === 'ENOENT');
    assert.equal(status, HELPER_FAILED);
  }));
});
