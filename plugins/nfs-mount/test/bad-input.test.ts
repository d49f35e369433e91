import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { libc, runtimeDir } from '@kmx/core';
import { assertOneLineError, processesMentioning, runKmx, temporaryDirectory } from '@kmx/core/testing';
import { serverArgs, uniqueName, withGanesha } from './harness.js';

const noDaemon = { env: { ...process.env, KMXD_SOCKET: '/nonexistent/kmxd.sock' } };

/** What a failed mount named `name` left behind: its record, its default mountpoint, a serving process. */
async function leftBehind(name: string, link?: string): Promise<string[]> {
  const paths = [join(runtimeDir(), 'nfs', `${name}.json`), join(runtimeDir(), 'nfs', 'mnt', name), ...(link ? [link] : [])];
  const left = paths.filter((p) => existsSync(p) || (() => {
    try {
      return lstatSync(p).isSymbolicLink();
    } catch {
      return false;
    }
  })());
  return [...left, ...(await processesMentioning(` ${name} `))];
}

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

  it('a failed mount leaves nothing behind: an unreachable server, a bad export, a mountpoint in use', () => withGanesha(async (g, dir) => {
    // An unreachable server, in the background (the default) and in the foreground, with a link.
    for (const foreground of [[], ['--foreground']]) {
      const name = uniqueName('f');
      const link = join(dir, `link-${name}`);
      assertOneLineError(await runKmx(['nfs', 'mount', '127.0.0.1:/export', name, '--userspace', ...foreground, '--vers', '3', '--port', '1', '--mount-port', '1', '--link', link], noDaemon), /cannot reach NFS server 127\.0\.0\.1:\/export: connection refused/);
      assert.deepEqual(await leftBehind(name, link), []);
    }
    // A bad export.
    const bad = uniqueName('f');
    assertOneLineError(await runKmx(['nfs', 'mount', '127.0.0.1:/no/such/export', bad, '--userspace', ...serverArgs(g, '3')], noDaemon), /has no export \/no\/such\/export/);
    assert.deepEqual(await leftBehind(bad), []);
    // Its default mountpoint in use by another mount (it was there before: it stays).
    const busy = uniqueName('f');
    const mountpoint = join(runtimeDir(), 'nfs', 'mnt', busy);
    mkdirSync(mountpoint, { recursive: true });
    libc.mount('tmpfs', mountpoint, 'tmpfs', libc.MS_NOSUID | libc.MS_NODEV, 'size=1m');
    try {
      assertOneLineError(await runKmx(['nfs', 'mount', `127.0.0.1:${g.exportPath}`, busy, '--userspace', ...serverArgs(g, '3')], noDaemon), new RegExp(`${mountpoint} is already a mount point \\(tmpfs from tmpfs\\); unmount it first`));
      assert.deepEqual(await leftBehind(busy), [mountpoint]);
    } finally {
      libc.umount2(mountpoint);
      rmdirSync(mountpoint);
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
    assertOneLineError(await runKmx(['nfs', 'mount', '10.0.0.1:/export', '--userspace', '-o', 'timeo=abc'], noDaemon), /bad mount option timeo=abc; timeo= is the timeout in deciseconds/, 2);
    const list = await runKmx(['nfs', 'list', '--json'], noDaemon);
    assert.equal(list.code, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as { kmxd: boolean }).kmxd, false);
  });
});
