// Bad input to kmx sftp mount: one clear line, a non-zero exit, nothing mounted, no process left.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory } from '@kmx/core/testing';
import { SFTP_SERVER, assertCleanFailure, execute, kmx, withSshd } from './support.js';

/** A fresh home with known_hosts and a key that the server does not accept. */
async function home(dir: string, knownHosts = ''): Promise<NodeJS.ProcessEnv> {
  const ssh = join(dir, 'home', '.ssh');
  await mkdir(ssh, { recursive: true, mode: 0o700 });
  await writeFile(join(ssh, 'known_hosts'), knownHosts);
  await mkdir(join(dir, 'mnt'), { recursive: true });
  return { ...process.env, HOME: join(dir, 'home'), SSH_AUTH_SOCK: '' };
}

describe('kmx sftp mount: bad input', () => {
  it('an unknown host', () => temporaryDirectory(async (dir) => {
    const env = await home(dir);
    const r = await kmx(['sftp', 'mount', '-o', 'ConnectTimeout=5', 'root@kmx-no-such-host.invalid:/x', join(dir, 'mnt')], { env });
    await assertCleanFailure(r, dir, /unknown host kmx-no-such-host\.invalid|did not answer within/);
  }));

  it('a server that is gone (nothing listens)', () => temporaryDirectory(async (dir) => {
    const env = await home(dir);
    const port = 1; // privileged, never handed out as a free port: nothing listens there, whatever else runs
    await assertCleanFailure(await kmx(['sftp', 'mount', `root@127.0.0.1:${port}:/`, join(dir, 'mnt')], { env }), dir, /127\.0\.0\.1:\d+ refused the connection/);
    await assertCleanFailure(await kmx(['sftp', 'mount', '--daemon', `root@127.0.0.1:${port}:/`, join(dir, 'mnt')], { env }), dir, /refused the connection/);
  }));

  it('unknown and changed host keys, a refused key, a missing remote path', () => temporaryDirectory((dir) => withSshd(dir, async (sshd) => {
    const mnt = join(dir, 'mnt');
    const target = (path: string): string => `root@127.0.0.1:${sshd.port}:${path}`;
    let env = await home(dir);
    await assertCleanFailure(await kmx(['sftp', 'mount', '-i', sshd.clientKey, target(dir), mnt], { env }), dir,
      /the host key of \[127\.0\.0\.1\]:\d+ is not known \(ssh-ed25519 key SHA256:\S+\); check the fingerprint .* --accept-new-host-key/);
    // Someone else's key listed for this host: refused, flag or not.
    const impostor = join(dir, 'impostor');
    await execute('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', impostor]);
    const other = (await execute('cat', [`${impostor}.pub`])).stdout.trim().split(' ');
    env = await home(dir, `[127.0.0.1]:${sshd.port} ${other[0]} ${other[1]}\n`);
    for (const flags of [[], ['--accept-new-host-key']]) {
      await assertCleanFailure(await kmx(['sftp', 'mount', ...flags, '-i', sshd.clientKey, target(dir), mnt], { env }), dir,
        /the host key of \[127\.0\.0\.1\]:\d+ has CHANGED.*; if the server's key really changed, remove the old one: ssh-keygen -R/);
    }
    env = await home(dir, `${sshd.knownHostsLine}\n`);
    await assertCleanFailure(await kmx(['sftp', 'mount', '-i', impostor, target(dir), mnt], { env }), dir, /root@127\.0\.0\.1 refused every way kmx could log in \(key .*impostor\)/);
    await assertCleanFailure(await kmx(['sftp', 'mount', target(dir), mnt], { env }), dir, /refused every way kmx could log in \(no key found\); give a key with -i KEY/);
    const locked = join(dir, 'locked');
    await execute('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'a passphrase', '-f', locked]);
    await assertCleanFailure(await kmx(['sftp', 'mount', '-i', locked, target(dir), mnt], { env }), dir, /refused every way .*; .*locked could not be used without a passphrase: add it to ssh-agent/);
    await assertCleanFailure(await kmx(['sftp', 'mount', '-i', sshd.clientKey, target(join(dir, 'no', 'such')), mnt], { env }), dir, /remote directory 127\.0\.0\.1:\S+\/no\/such does not exist/);
    await assertCleanFailure(await kmx(['sftp', 'mount', '--daemon', '-i', sshd.clientKey, target(join(dir, 'no', 'such')), mnt], { env }), dir, /does not exist/);
    await assertCleanFailure(await kmx(['sftp', 'mount', '-i', join(dir, 'no-key'), target(dir), mnt], { env }), dir, /identity file .*no-key does not exist/);
  })));

  it('a --via command that does not exist, or does not speak SFTP, or a bad remote path', () => temporaryDirectory(async (dir) => {
    const env = await home(dir);
    const mnt = join(dir, 'mnt');
    await assertCleanFailure(await kmx(['sftp', 'mount', '--via', `${dir}/no-such-command {host}`, 'h:/', mnt], { env }), dir,
      /the --via command exited \(exit code 127\) before speaking SFTP: .*not found; check the command/);
    await assertCleanFailure(await kmx(['sftp', 'mount', '--via', 'echo this is not sftp; sleep 30', 'h:/', mnt], { env }), dir, /the --via command (does not speak SFTP|exited)/);
    await assertCleanFailure(await kmx(['sftp', 'mount', '--via', SFTP_SERVER, `h:${dir}/missing`, mnt], { env }), dir, /remote directory h:\S+missing does not exist/);
    await assertCleanFailure(await kmx(['sftp', 'mount', '--daemon', '--via', `${dir}/no-such-command`, 'h:/', mnt], { env }), dir, /the --via command exited/);
  }));

  it('malformed targets and options', () => temporaryDirectory(async (dir) => {
    const env = await home(dir);
    const mnt = join(dir, 'mnt');
    const cases: Array<[string[], RegExp]> = [
      [['/local/dir', mnt], /"\/local\/dir" is not a remote directory; write it as \[user@\]host\[:port\]:\[\/path\]/],
      [['host:70000:/x', mnt], /port 70000 in "host:70000:\/x" is out of range/],
      [['-o', 'idmap=everyone', 'h:/', mnt], /mount option "idmap" takes user or none/],
      [['-o', 'timeout=0', 'h:/', mnt], /"timeout" must be at least 1 second/],
      [['-o', 'StrictHostKeyChecking=maybe', 'h:/', mnt], /^kmx: ssh's configuration: in -o: unsupported option "maybe"; /],
      // An unknown option: the line lists kmx sftp's own, ssh's and the FUSE ones.
      [['-o', 'frobnicate', 'h:/', mnt], /unknown mount option "frobnicate"; kmx sftp mount takes reconnect, idmap=user\|none, .*ssh_command=CMD.*; the ssh options HostName, Port, .*ProxyJump \(as Name=value\); and the FUSE options allow_other, /],
      [['-o', 'passive', 'h:/', mnt], /mount option "passive" .* is not supported; use --via CMD/],
      [['-o', 'directport=0', 'h:/', mnt], /port 0 is out of range/],
      [['-o', 'ssh_command=', 'h:/', mnt], /"ssh_command" needs a command/],
      [['-o', 'ssh_command=ssh', '-o', 'directport=22', 'h:/', mnt], /-o ssh_command and -o directport cannot be used together/],
      [['-p', '99999', 'h:/', mnt], /99999/],
      [['-o', 'ProxyJump=a\\,b', '-o', 'Ciphers=none-such', 'h:/', mnt], /ssh's configuration: .*cipher/i],
      [['-F', join(dir, 'no-such-config'), 'h:/', mnt], /ssh's configuration: .*no-such-config/],
      [['--', '-oProxyCommand=x:/', mnt], /"-oProxyCommand=x" is not a host name/],
      [['--via', SFTP_SERVER, `h:${dir}`, join(dir, 'no-mountpoint')], /mountpoint .* does not exist/],
    ];
    for (const [args, pattern] of cases) await assertCleanFailure(await kmx(['sftp', 'mount', ...args], { env }), dir, pattern);
  }));
});
