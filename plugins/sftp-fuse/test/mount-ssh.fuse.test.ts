// kmx sftp mount over SSH, against a throwaway OpenSSH server on loopback: keys, agent,
// ~/.ssh/config aliases, known_hosts, passwords (also through --daemon's prepare step).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { atTerminal, kmxBin, mountsUnder, temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { execute as run, kmx as runKmx, shell, waitFor, withSshd } from './support.js';

/** A home directory of its own: no keys, no config, no known hosts unless a test puts them there. */
function env(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { HOME: join(dir, 'home'), SSH_AUTH_SOCK: '', ...extra };
}

async function serverDir(dir: string): Promise<string> {
  const srv = join(dir, 'srv');
  await mkdir(srv, { recursive: true });
  await writeFile(join(srv, 'hello.txt'), 'hello over ssh\n');
  return srv;
}

async function knownHosts(dir: string, line: string): Promise<void> {
  await mkdir(join(dir, 'home', '.ssh'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'home', '.ssh', 'known_hosts'), `${line}\n`);
}

describe('kmx sftp mount over SSH', () => {
  it('logs in with -i KEY, records a new host key with --accept-new-host-key, then trusts only it', () => temporaryDirectory((outer) => withSshd(outer, async (sshd) => {
    const srv = await serverDir(outer);
    const target = `root@127.0.0.1:${sshd.port}:${srv}`;
    const home = env(outer);
    await withTestMount({ env: home, args: ({ mnt }) => ['sftp', 'mount', '--accept-new-host-key', '-i', sshd.clientKey, target, mnt] }, async ({ mnt, output }) => {
      assert.equal(await readFile(join(mnt, 'hello.txt'), 'utf8'), 'hello over ssh\n');
      await writeFile(join(mnt, 'back.txt'), 'written through ssh');
      assert.equal(await readFile(join(srv, 'back.txt'), 'utf8'), 'written through ssh');
      assert.match(output(), /added the host key of \[127\.0\.0\.1\]:\d+ \(ssh-ed25519 SHA256:/);
    });
    assert.match(await readFile(join(outer, 'home', '.ssh', 'known_hosts'), 'utf8'), /^\|1\|\S+ ssh-ed25519 /);
    // Known now: no flag needed.
    await withTestMount({ env: home, args: ({ mnt }) => ['sftp', 'mount', '-i', sshd.clientKey, target, mnt] }, async ({ mnt }) => {
      assert.ok((await shell(`ls '${mnt}'`)).stdout.includes('back.txt'));
    });
  })));

  it('follows a Host alias of ~/.ssh/config (HostName, Port, User, IdentityFile, UserKnownHostsFile)', () => temporaryDirectory((outer) => withSshd(outer, async (sshd) => {
    const srv = await serverDir(outer);
    await mkdir(join(outer, 'home', '.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(join(outer, 'kh'), `${sshd.knownHostsLine}\n`);
    await writeFile(join(outer, 'home', '.ssh', 'config'), [
      'Host testbox', '  HostName 127.0.0.1', `  Port ${sshd.port}`, '  User root', `  IdentityFile ${sshd.clientKey}`, `  UserKnownHostsFile ${outer}/kh`, '',
      'Host *', '  User nobody-at-all', '',
    ].join('\n'));
    await withTestMount({ env: env(outer), args: ({ mnt }) => ['sftp', 'mount', `testbox:${srv}`, mnt] }, async ({ mnt }) => {
      assert.equal(await readFile(join(mnt, 'hello.txt'), 'utf8'), 'hello over ssh\n');
      const mounts = await runKmx(['mounts']);
      assert.match(mounts.stdout, new RegExp(`sftp\\s+root@testbox:${sshd.port}:${srv}`));
    });
  })));

  it('logs in through ssh-agent', () => temporaryDirectory((outer) => withSshd(outer, async (sshd) => {
    const srv = await serverDir(outer);
    await knownHosts(outer, sshd.knownHostsLine);
    const socket = join(outer, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    const agentExit = new Promise((resolve) => agent.once('exit', resolve));
    try {
      await waitFor('ssh-agent', async () => (await run('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: socket } })).code !== 2);
      const added = await run('ssh-add', [sshd.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      assert.equal(added.code, 0, added.stderr);
      await withTestMount({ env: env(outer, { SSH_AUTH_SOCK: socket }), args: ({ mnt }) => ['sftp', 'mount', `root@127.0.0.1:${sshd.port}:${srv}`, mnt] }, async ({ mnt }) => {
        assert.equal(await readFile(join(mnt, 'hello.txt'), 'utf8'), 'hello over ssh\n');
      });
    } finally {
      agent.kill();
      await agentExit;
    }
  })));

  it('asks for a password last: -o password_stdin, through --daemon, and at a terminal', () => temporaryDirectory((outer) => withPasswordUser(join(outer, 'pwhome'), async (user, password) => withSshd(outer, async (sshd) => {
    const srv = await serverDir(outer);
    await run('chmod', ['-R', 'a+rwX', srv]);
    await run('chmod', ['a+x', outer]);
    await knownHosts(outer, sshd.knownHostsLine);
    const mnt = join(outer, 'mnt');
    await mkdir(mnt);
    const target = `${user}@127.0.0.1:${sshd.port}:${srv}`;
    const wrong = await runKmx(['sftp', 'mount', '-o', 'password_stdin', target, mnt], { env: { ...process.env, ...env(outer) }, input: 'not-the-password\n' });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /^kmx: .*the password was refused; check the password\n$/);
    const daemon = await runKmx(['sftp', 'mount', '--daemon', '-o', 'password_stdin,idmap=user', target, mnt], { env: { ...process.env, ...env(outer) }, input: `${password}\n` });
    try {
      assert.equal(daemon.code, 0, daemon.stderr);
      assert.equal(await readFile(join(mnt, 'hello.txt'), 'utf8'), 'hello over ssh\n');
      // The detached server's malloc asks for huge pages (docs/benchmarks.md, kmx sftp).
      const pid = /\(pid (\d+)\)/.exec(daemon.stdout + daemon.stderr)?.[1];
      assert.ok(pid, daemon.stdout);
      assert.ok((await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').includes('GLIBC_TUNABLES=glibc.malloc.hugetlb=1'));
      // idmap=user: what the remote login owns shows as the mounting user's (root here).
      await writeFile(join(mnt, 'mine.txt'), 'x');
      assert.notEqual((await stat(join(srv, 'mine.txt'))).uid, 0, 'created as the remote user');
      assert.equal((await stat(join(mnt, 'mine.txt'))).uid, 0, 'shown as the local user');
    } finally {
      await runKmx(['umount', mnt]);
    }
    // At a terminal: the prompt, the password typed once it shows (not echoed), then the mount.
    const typed = await atTerminal([process.execPath, kmxBin(), 'sftp', 'mount', '--daemon', target, mnt], [{ after: 'password: ', type: `${password}\r` }], { env: { ...process.env, ...env(outer) } });
    try {
      assert.match(typed.stdout, new RegExp(`${user}@127\\.0\\.0\\.1's password: `), typed.stderr);
      assert.doesNotMatch(typed.stdout, new RegExp(password), 'the password is not echoed');
      assert.equal((await mountsUnder(mnt)).length, 1, typed.stdout);
    } finally {
      await runKmx(['umount', mnt]);
    }
  }, { password: true }))));
});

/** A real local user with a password, for sshd's password login; removed afterwards. */
async function withPasswordUser<T>(home: string, body: (user: string, password: string) => Promise<T>): Promise<T> {
  const user = `kmxt-pw${process.pid % 100000}`;
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const added = await run('useradd', ['-M', '-d', home, '-s', '/bin/sh', user]);
  assert.equal(added.code, 0, added.stderr);
  try {
    await mkdir(home, { mode: 0o755 });
    await run('chown', [`${user}:${user}`, home]);
    await run('chmod', ['a+x', join(home, '..')]);
    const set = await run('chpasswd', [], { input: `${user}:${password}\n` });
    assert.equal(set.code, 0, set.stderr);
    return await body(user, password);
  } finally {
    await run('userdel', ['-f', user]);
  }
}

