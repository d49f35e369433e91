import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { libc } from '@kmx/core';
import { runKmx, temporaryDirectory, type RunResult } from '@kmx/core/testing';
import { freePort } from '../src/lib/peer/ganesha.js';
import { withGanesha } from './harness.js';

/** Every bad input to kmx nfs: one line on stderr, a non-zero exit, nothing mounted. */

function oneLine(r: RunResult, pattern: RegExp, code?: number): void {
  assert.notEqual(r.code, 0, r.stdout);
  if (code !== undefined) assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^kmx: /);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const noDaemon = { env: { ...process.env, KMXD_SOCKET: '/nonexistent/kmxd.sock' } };

describe('kmx nfs bad input', () => {
  it('an unreachable server', () => temporaryDirectory(async (dir) => {
    const port = await freePort();
    mkdirSync(join(dir, 'm'));
    const r = await runKmx(['nfs', 'mount', '127.0.0.1:/export', 'x', '--userspace', '--vers', '3', '--port', String(port), '--mount-port', String(port), '--mountpoint', join(dir, 'm')], noDaemon);
    oneLine(r, /cannot reach NFS server 127\.0\.0\.1:\/export/);
    // without --userspace: the fallback is announced in one line first
    const fallback = await runKmx(['nfs', 'mount', '127.0.0.1:/export', 'x', '--vers', '3', '--port', String(port), '--mount-port', String(port), '--mountpoint', join(dir, 'm')], noDaemon);
    assert.equal(fallback.stdout, 'kmx nfs: kmxd is not running; mounting in user space instead (libnfs over FUSE)\n');
    oneLine(fallback, /cannot reach NFS server/);
  }));

  it('a bad export, a mountpoint in use', () => withGanesha(async (g, dir) => {
    const server = ['--vers', '3', '--port', String(g.nfsPort), '--mount-port', String(g.mountPort)];
    mkdirSync(join(dir, 'm'));
    oneLine(await runKmx(['nfs', 'mount', '127.0.0.1:/no/such/export', 'x', '--userspace', ...server, '--mountpoint', join(dir, 'm')], noDaemon), /has no export \/no\/such\/export/);
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    libc.mount('tmpfs', busy, 'tmpfs', libc.MS_NOSUID | libc.MS_NODEV, 'size=1m');
    try {
      oneLine(await runKmx(['nfs', 'mount', `127.0.0.1:${g.exportPath}`, 'y', '--userspace', ...server, '--mountpoint', busy], noDaemon), /already a mount point/);
    } finally {
      libc.umount2(busy);
    }
  }));

  it('a bad name or source, the daemon not running, an unknown mount', async () => {
    oneLine(await runKmx(['nfs', 'mount', '10.0.0.1:/export', 'a/b'], noDaemon), /bad mount name/, 2);
    oneLine(await runKmx(['nfs', 'mount', '10.0.0.1:/export', '..'], noDaemon), /bad mount name/, 2);
    oneLine(await runKmx(['nfs', 'mount', 'no-colon-here', 'x'], noDaemon), /is not an NFS source/, 2);
    oneLine(await runKmx(['nfs', 'mount', '10.0.0.1:/export', 'x', '--kernel'], noDaemon), /cannot mount through kmxd: kmxd is not running/);
    oneLine(await runKmx(['nfs', 'umount', 'nothing-like-this'], noDaemon), /no NFS mount of yours/);
    oneLine(await runKmx(['nfs', 'mount', '10.0.0.1:/export', '--vers', '5'], noDaemon), /Expected --vers=5 to be one of/, 2);
    const list = await runKmx(['nfs', 'list', '--json'], noDaemon);
    assert.equal(list.code, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as { kmxd: boolean }).kmxd, false);
  });
});
