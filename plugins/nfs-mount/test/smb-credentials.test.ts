import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runtimeSubdir } from '@kmx/core';
import { assertCleanFailure, atTerminal, freePort, kmxBin, mountsUnder, processesMentioning, runKmx, temporaryDirectory } from '@kmx/core/testing';
import { parseCredentials } from '../src/lib/smb/credentials.js';
import { smbName, withSmbd, type SmbdPeer } from './smbd-peer.js';

/** kmx smb's credentials and its one-line failures, against smbd on loopback. */

const mountArgs = (peer: SmbdPeer, name: string, mnt: string, extra: string[] = []): string[] =>
  ['smb', 'mount', '//127.0.0.1/share', name, '--port', String(peer.port), '--mountpoint', mnt, '--timeout', '3', ...extra];

/** Every file under `dir` (kmx's runtime state: records, logs) that holds `secret`. */
async function filesHolding(dir: string, secret: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true }).catch(() => [])) {
    const path = join(dir, String(entry));
    if ((await lstat(path)).isFile() && (await readFile(path)).includes(secret)) found.push(path);
  }
  return found;
}

describe('kmx smb credentials', () => {
  it('reads a 0600 credentials file of the caller\'s, and refuses one that others may read, a symlink, or another user\'s', () => withSmbd(async (peer, dir) => {
    // (The password has every printable ASCII character: "," "=" "%" "\\" and quotes go through libsmbclient's auth callback whole.)
    const file = join(dir, 'creds');
    await writeFile(file, `# comment\nusername=${peer.user.name}\npassword=${peer.password}\ndomain=WORKGROUP\n`, { mode: 0o600 });
    const mnt = join(dir, 'mnt-refused');
    await chmod(file, 0o644);
    await assertCleanFailure(await runKmx(mountArgs(peer, smbName(), dir, ['--credentials', file])), mnt, /creds is readable or writable by others \(mode 0644\); chmod 600/);
    await chmod(file, 0o600);
    await symlink(file, join(dir, 'link'));
    await assertCleanFailure(await runKmx(mountArgs(peer, smbName(), dir, ['--credentials', join(dir, 'link')])), mnt, /is a symbolic link/);
    await chown(file, peer.user.uid, peer.user.gid);
    await assertCleanFailure(await runKmx(mountArgs(peer, smbName(), dir, ['--credentials', file])), mnt, /is not yours/);
    await chown(file, 0, 0);

    // Mounted in the background with it: the password is in no process's arguments, no record
    // or log of kmx's, nor the mount table; the link and the listing work, and umount --unlink.
    const name = smbName();
    const link = join(dir, 'to-share');
    await mkdir(join(dir, 'mnt'));
    const mounted = await runKmx(mountArgs(peer, name, join(dir, 'mnt'), ['--credentials', file, '--link', link]));
    assert.equal(mounted.code, 0, mounted.stderr);
    try {
      await writeFile(join(link, 'through-link'), 'x');
      assert.equal(await readFile(join(peer.shareDir, 'through-link'), 'utf8'), 'x');
      assert.deepEqual(await processesMentioning(peer.password), []);
      assert.deepEqual(await filesHolding(await runtimeSubdir('smb'), peer.password), []);
      assert.deepEqual(await filesHolding(await runtimeSubdir('logs'), peer.password), []);
      assert.ok(!(await readFile('/proc/self/mountinfo', 'utf8')).includes(peer.password));
      const listed = JSON.parse((await runKmx(['smb', 'list', '--json'])).stdout) as { mounts: Array<{ name: string; source: string; link: string; mode: string }> };
      assert.deepEqual(listed.mounts.filter((m) => m.name === name).map((m) => [m.source, m.link, m.mode]), [['//127.0.0.1/share', link, 'userspace']]);
    } finally {
      const umount = await runKmx(['smb', 'umount', name, '--unlink']);
      assert.equal(umount.code, 0, umount.stderr);
      assert.match(umount.stdout, /unmounted .*; removed .*to-share/);
    }
    assert.equal(await readlink(link).catch(() => 'gone'), 'gone');
    assert.deepEqual(await mountsUnder(dir), []);
  }, { password: `k${Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join('')} z` }));

  it('asks for the password on the terminal, and takes USER, PASSWD, PASSWD_FILE and PASSWD_FD as mount.cifs does', () => withSmbd(async (peer, dir) => {
    const name = smbName();
    await mkdir(join(dir, 'mnt'));
    const asked = await atTerminal([process.execPath, kmxBin(), ...mountArgs(peer, name, join(dir, 'mnt'), ['--user', peer.user.name])], [{ after: 'Password for', type: `${peer.password}\r` }]);
    assert.equal(asked.code, 0, asked.stdout);
    assert.doesNotMatch(asked.stdout, new RegExp(peer.password), 'no echo');
    assert.equal((await runKmx(['smb', 'umount', name])).code, 0);
    const fromEnv = await runKmx(mountArgs(peer, smbName(), join(dir, 'mnt')), { env: { ...process.env, USER: `${peer.user.name}%${peer.password}` } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.equal((await runKmx(['smb', 'umount', join(dir, 'mnt')])).code, 0);
    // PASSWD_FILE and PASSWD_FD, as mount.cifs reads them: the first line.
    await writeFile(join(dir, 'pw'), `${peer.password}\nnot this line\n`, { mode: 0o600 });
    const fromFile = await runKmx(mountArgs(peer, smbName(), join(dir, 'mnt'), ['--user', peer.user.name]), { env: { ...process.env, PASSWD_FILE: join(dir, 'pw') } });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal((await runKmx(['smb', 'umount', join(dir, 'mnt')])).code, 0);
    const fromFd = await runKmx(mountArgs(peer, smbName(), join(dir, 'mnt'), ['--user', peer.user.name]), { env: { ...process.env, PASSWD_FD: '0' }, input: `${peer.password}\n` });
    assert.equal(fromFd.code, 0, fromFd.stderr);
    assert.equal((await runKmx(['smb', 'umount', join(dir, 'mnt')])).code, 0);
    const none = await runKmx(mountArgs(peer, smbName(), join(dir, 'mnt'), ['--user', peer.user.name]), { stdio: ['ignore', 'pipe', 'pipe'] });
    await assertCleanFailure(none, join(dir, 'mnt'), /no password given, and no terminal/);
  }));

  it('fails in one line, with nothing left, for a wrong password, a dead server, an absent share and a bad share', () => withSmbd(async (peer, dir) => {
    const env = { ...process.env, PASSWD: 'wrong' };
    await assertCleanFailure(await runKmx(mountArgs(peer, smbName(), join(dir, 'mnt'), ['--user', peer.user.name]), { env }), dir, /access denied for kmxt/, { exitCode: 13, exceptProcesses: /smbd/ });
    const good = { ...process.env, PASSWD: peer.password };
    const dead = await runKmx(['smb', 'mount', '//127.0.0.1/share', smbName(), '--port', String(await freePort()), '--user', peer.user.name, '--mountpoint', join(dir, 'mnt')], { env: good });
    await assertCleanFailure(dead, dir, /does not answer \(ECONNREFUSED\); check the server name and port/, { exceptProcesses: /smbd/ });
    await assertCleanFailure(await runKmx(['smb', 'mount', '//127.0.0.1/nosuch', smbName(), '--port', String(peer.port), '--user', peer.user.name, '--mountpoint', join(dir, 'mnt')], { env: good }), dir, /no such share/, { exceptProcesses: /smbd/ });
    await assertCleanFailure(await runKmx(['smb', 'mount', '127.0.0.1:/share', '--user', 'x'], { env: good }), dir, /is not an SMB share; write it as \/\/server\/share/, { exceptProcesses: /smbd/ });
    await assertCleanFailure(await runKmx(['smb', 'mount', '//127.0.0.1/sh"are', '--user', 'x'], { env: good }), dir, /is not a share name/, { exceptProcesses: /smbd/ });
    assert.deepEqual(await mountsUnder(dir), []);
  }));

  it('falls back to user space in one line when kmxd runs but the kernel has no CIFS client; --kernel fails instead', () => withSmbd(async (peer, dir) => {
    const kmxdBin = fileURLToPath(new URL('../../../../packages/core/bin/kmxd.js', import.meta.url));
    const socket = join(dir, 'kmxd.sock');
    const daemon = spawn(process.execPath, [kmxdBin, '--socket', socket, '--state-dir', join(dir, 'kmxd-state'), '--media-dir', join(dir, 'media')], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 300 && !existsSync(socket); i++) await sleep(20);
      const env = { ...process.env, KMXD_SOCKET: socket, PASSWD: peer.password };
      await mkdir(join(dir, 'mnt'));
      const kernelOnly = await runKmx(['smb', 'mount', '//127.0.0.1/share', smbName(), '--kernel', '--port', String(peer.port), '--user', peer.user.name], { env });
      await assertCleanFailure(kernelOnly, join(dir, 'mnt'), /cannot mount through kmxd: this kernel has no CIFS client \(no cifs in \/proc\/filesystems\); drop --kernel to mount in user space/, { exceptProcesses: /smbd|kmxd/ });
      const name = smbName();
      const fallback = await runKmx(mountArgs(peer, name, join(dir, 'mnt'), ['--user', peer.user.name, '-o', 'cache=none,soft,noatime']), { env });
      assert.equal(fallback.code, 0, fallback.stderr);
      assert.match(fallback.stdout, /^kmx smb: this kernel has no CIFS client \(no cifs in \/proc\/filesystems\); mounting in user space instead \(libsmbclient over FUSE\)\nkmx smb: ignoring kernel-only options in user space: cache, soft\n/);
      assert.equal((await runKmx(['smb', 'umount', name], { env })).code, 0);
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((resolve) => daemon.once('exit', resolve));
    }
  }));

  it('parses mount.cifs credential files byte for byte (a password keeps its =, spaces and commas)', () => temporaryDirectory(async () => {
    const parsed = parseCredentials(Buffer.from('username=al ice\r\npass=a=b, c\n\ndom=CORP\nother=1\n'));
    assert.deepEqual({ ...parsed, password: parsed.password?.toString() }, { user: 'al ice', password: 'a=b, c', domain: 'CORP' });
  }));
});
