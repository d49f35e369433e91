import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { libc } from '@kmx/core';
import { assertOneLineError, runKmx, temporaryDirectory } from '@kmx/core/testing';
import { withGanesha } from './harness.js';

const noDaemon = { env: { ...process.env, KMXD_SOCKET: '/nonexistent/kmxd.sock' } };

describe('kmx nfs bad input', () => {
  it('an unreachable server', () => temporaryDirectory(async (dir) => {
    const port = 1; // privileged, never handed out as a free port: nothing listens there, whatever else runs
    mkdirSync(join(dir, 'm'));
    const r = await runKmx(['nfs', 'mount', '127.0.0.1:/export', 'x', '--userspace', '--vers', '3', '--port', String(port), '--mount-port', String(port), '--mountpoint', join(dir, 'm')], noDaemon);
    assertOneLineError(r, /cannot reach NFS server 127\.0\.0\.1:\/export/);
    // without --userspace: the fallback is announced in one line first
    const fallback = await runKmx(['nfs', 'mount', '127.0.0.1:/export', 'x', '--vers', '3', '--port', String(port), '--mount-port', String(port), '--mountpoint', join(dir, 'm')], noDaemon);
    assert.equal(fallback.stdout, 'kmx nfs: kmxd is not running; mounting in user space instead (libnfs over FUSE)\n');
    assertOneLineError(fallback, /cannot reach NFS server/);
  }));

  it('a bad export, a mountpoint in use', () => withGanesha(async (g, dir) => {
    const server = ['--vers', '3', '--port', String(g.nfsPort), '--mount-port', String(g.mountPort)];
    mkdirSync(join(dir, 'm'));
    assertOneLineError(await runKmx(['nfs', 'mount', '127.0.0.1:/no/such/export', 'x', '--userspace', ...server, '--mountpoint', join(dir, 'm')], noDaemon), /has no export \/no\/such\/export/);
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    libc.mount('tmpfs', busy, 'tmpfs', libc.MS_NOSUID | libc.MS_NODEV, 'size=1m');
    try {
      assertOneLineError(await runKmx(['nfs', 'mount', `127.0.0.1:${g.exportPath}`, 'y', '--userspace', ...server, '--mountpoint', busy], noDaemon), /already a mount point/);
    } finally {
      libc.umount2(busy);
    }
  }));

  it('a bad name or source, the daemon not running, an unknown mount', async () => {
    assertOneLineError(await runKmx(['nfs', 'mount', '10.0.0.1:/export', 'a/b'], noDaemon), /bad mount name/, 2);
    assertOneLineError(await runKmx(['nfs', 'mount', '10.0.0.1:/export', '..'], noDaemon), /bad mount name/, 2);
    for (const spoof of ['gpj.\u202Eexe', 'da\u200Bta', 'etc\uFF0Fshadow', 'a\u00A0b']) {
      assertOneLineError(await runKmx(['nfs', 'mount', '10.0.0.1:/export', spoof], noDaemon), /bad mount name: .*format characters/, 2);
    }
    assertOneLineError(await runKmx(['nfs', 'mount', 'no-colon-here', 'x'], noDaemon), /is not an NFS source/, 2);
    assertOneLineError(await runKmx(['nfs', 'mount', '10.0.0.1:/export', 'x', '--kernel'], noDaemon), /cannot mount through kmxd: kmxd is not running/);
    assertOneLineError(await runKmx(['nfs', 'umount', 'nothing-like-this'], noDaemon), /no NFS mount of yours/);
    assertOneLineError(await runKmx(['nfs', 'mount', '10.0.0.1:/export', '--vers', '5'], noDaemon), /Expected --vers=5 to be one of/, 2);
    const list = await runKmx(['nfs', 'list', '--json'], noDaemon);
    assert.equal(list.code, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as { kmxd: boolean }).kmxd, false);
  });
});
