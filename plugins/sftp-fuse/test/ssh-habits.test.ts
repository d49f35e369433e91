// What sshfs users type, against real OpenSSH servers on loopback: ssh's configuration as ssh
// resolves it (-F, Match, + lists), -p -C, ProxyJump through a real jump host, ProxyCommand,
// known_hosts from the config, ssh's host key question at a terminal, the login directory,
// ssh_command, sftp_server and directport.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { atTerminal, freePort, kmxBin, mountsUnder, temporaryDirectory, withTestMount, type Keystrokes } from '@kmx/core/testing';
import { startSshd, type TestSshd } from '../src/testing/index.js';
import { execute, kmx, SFTP_SERVER } from './support.js';

const ENV = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, HOME: join(dir, 'home'), SSH_AUTH_SOCK: '' });

/** Two sshd (a target and a jump host, both logging the protocol), a served directory and an ssh_config for them. */
async function withServers<T>(dir: string, body: (s: { target: TestSshd; jump: TestSshd; config: string; srv: string; knownHosts: string }) => Promise<T>, targetConfig = ''): Promise<T> {
  const target = await startSshd(join(dir, 'target'), { extraConfig: `LogLevel DEBUG1\n${targetConfig}` });
  try {
    const jump = await startSshd(join(dir, 'jump'), { extraConfig: 'LogLevel DEBUG1' });
    try {
      const srv = join(dir, 'srv');
      await mkdir(srv);
      await writeFile(join(srv, 'hello.txt'), 'hello\n');
      const knownHosts = join(dir, 'known_hosts');
      await writeFile(knownHosts, `${target.knownHostsLine}\n${jump.knownHostsLine}\n`);
      const config = join(dir, 'ssh_config');
      const host = (name: string, s: TestSshd, extra: string[] = []): string[] => [
        `Host ${name}`, '  HostName 127.0.0.1', `  Port ${s.port}`, '  User root', `  IdentityFile ${s.clientKey}`,
        '  IdentitiesOnly yes', `  UserKnownHostsFile ${knownHosts}`, '  BatchMode yes', ...extra,
      ];
      await writeFile(config, [
        ...host('target', target),
        ...host('jump', jump),
        ...host('behind', target, ['  ProxyJump jump']),
        ...host('piped', target, [`  ProxyCommand sh -c 'echo ran %h %p >> ${dir}/proxy.log; exec ssh -F ${config} -W %h:%p jump'`]),
        ...host('broken-proxy', target, ['  ProxyCommand sh -c "echo no route to the bastion >&2; exit 3"']),
        ...host('cbc', target, ['  Ciphers +aes128-cbc']),
        ...host('portless', target).filter((l) => !l.includes('Port ')),
        '',
      ].join('\n'));
      return await body({ target, jump, config, srv, knownHosts });
    } finally {
      await jump.stop();
    }
  } finally {
    await target.stop();
  }
}

async function mounted(dir: string, args: (mnt: string) => string[], check: (mnt: string) => Promise<void>, env = ENV(dir)): Promise<void> {
  await withTestMount({ env, args: ({ mnt }) => args(mnt) }, async ({ mnt }) => check(mnt));
}

const hello = async (mnt: string): Promise<void> => assert.equal(await readFile(join(mnt, 'hello.txt'), 'utf8'), 'hello\n');

describe('kmx sftp mount, as sshfs users type it', () => {
  it('-F, -p and -C as in sshfs', () => temporaryDirectory((dir) => withServers(dir, async ({ target, config, srv }) => {
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, '-p', String(target.port), '-C', `portless:${srv}`, mnt], hello);
    assert.match(await target.log(), /compression: zlib(@openssh\.com)?/, 'compressed, as -C asked');
  })));

  it('takes ssh\'s algorithm lists with + from the config, and an escaped comma in -o', () => temporaryDirectory((dir) => withServers(dir, async ({ config, srv }) => {
    // The server takes only CBC: kmx gets there only if it honours "Ciphers +aes128-cbc".
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, `cbc:${srv}`, mnt], hello);
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, '-o', 'Ciphers=aes256-ctr\\,aes128-cbc', `target:${srv}`, mnt], hello);
    const refused = await kmx(['sftp', 'mount', '-F', config, `target:${srv}`, join(dir, 'srv')], { env: ENV(dir) });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /^kmx: [^\n]*cipher[^\n]*\n$/i, 'no common cipher: one line');
  }, 'Ciphers aes128-cbc')));

  it('goes through a real jump host with ProxyJump (config or -o), and never around it', () => temporaryDirectory((dir) => withServers(dir, async ({ jump, config, srv }) => {
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, `behind:${srv}`, mnt], hello);
    assert.match(await jump.log(), /direct-tcpip/, 'the jump host forwarded the connection');
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, '-o', 'ProxyJump=jump', `target:${srv}`, mnt], hello);
    await jump.stop();
    const gone = await kmx(['sftp', 'mount', '-F', config, `behind:${srv}`, join(dir, 'srv')], { env: ENV(dir), timeoutMs: 60_000 });
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /^kmx: ProxyJump jump to 127\.0\.0\.1:\d+ ended \(exit code 255\)[^\n]*\n$/, 'the jump host down is an error, not a direct connection');
    assert.deepEqual(await mountsUnder(dir), []);
  })));

  it('runs ProxyCommand with its %-tokens, and reports one that fails', () => temporaryDirectory((dir) => withServers(dir, async ({ target, config, srv }) => {
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, `piped:${srv}`, mnt], hello);
    // Once for the login check, once for the mount's own connection.
    const runs = (await readFile(join(dir, 'proxy.log'), 'utf8')).trim().split('\n');
    assert.deepEqual(new Set(runs), new Set([`ran 127.0.0.1 ${target.port}`]));
    const broken = await kmx(['sftp', 'mount', '-F', config, `broken-proxy:${srv}`, join(dir, 'srv')], { env: ENV(dir) });
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(broken.stderr, /^kmx: ProxyCommand to 127\.0\.0\.1:\d+ ended \(exit code 3\): no route to the bastion; check it: /);
  })));

  it('finds host keys in GlobalKnownHostsFile and UserKnownHostsFile from the config', () => temporaryDirectory((dir) => withServers(dir, async ({ target, config, srv }) => {
    const global = join(dir, 'global_known_hosts');
    await writeFile(global, `${target.knownHostsLine}\n`);
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, '-o', 'UserKnownHostsFile=/dev/null', '-o', `GlobalKnownHostsFile=${global}`, `target:${srv}`, mnt], hello);
    const none = await kmx(['sftp', 'mount', '-F', config, '-o', 'UserKnownHostsFile=/dev/null', `target:${srv}`, join(dir, 'srv')], { env: ENV(dir) });
    assert.match(none.stderr, /^kmx: the host key of \[127\.0\.0\.1\]:\d+ is not known/);
  })));

  it('asks about an unknown host key at a terminal, as ssh does: yes records it hashed, no refuses, the fingerprint accepts', () => temporaryDirectory((dir) => withServers(dir, async ({ target, config, srv }) => {
    const fingerprint = (await execute('ssh-keygen', ['-l', '-f', join(target.dir, 'host_ed25519.pub')])).stdout.split(' ')[1]!;
    const fresh = join(dir, 'fresh_known_hosts');
    let mounts = 0;
    const mountAtTerminal = async (answer: string, extra: string[] = [], steps: Keystrokes[] = [{ after: '(yes/no/[fingerprint])? ', type: `${answer}\r` }]): Promise<{ code: number | null; shown: string; mnt: string }> => {
      const mnt = join(dir, `mnt-${mounts++}`);
      await mkdir(mnt);
      const r = await atTerminal([process.execPath, kmxBin(), 'sftp', 'mount', '--daemon', '-F', config, '-o', `UserKnownHostsFile=${fresh}`, '-o', 'BatchMode=no', ...extra, `target:${srv}`, mnt],
        steps, { env: ENV(dir) });
      return { code: r.code, shown: r.stdout, mnt };
    };
    const no = await mountAtTerminal('no');
    assert.notEqual(no.code, 0);
    assert.match(no.shown, /ED25519 key fingerprint is SHA256:/);
    assert.match(no.shown, /kmx: host key verification failed: the host key of \[127\.0\.0\.1\]:\d+ was not accepted/);
    assert.deepEqual(await mountsUnder(no.mnt), []);
    // Walked away from: Ctrl-C, or the end of input; a wrong fingerprint is asked about again.
    const question = '(yes/no/[fingerprint])? ';
    const interrupted = await mountAtTerminal('', [], [{ after: question, type: '\x03' }]);
    assert.equal(interrupted.code, 130, interrupted.shown);
    assert.match(interrupted.shown, /kmx: interrupted/);
    const ended = await mountAtTerminal('', [], [{ after: question, type: '\x04' }]);
    assert.notEqual(ended.code, 0);
    assert.match(ended.shown, /kmx: host key verification failed: no answer \(end of input\)/);
    const mistyped = await mountAtTerminal('', [], [{ after: question, type: 'SHA256:not-it\r' }, { after: 'or the fingerprint: ', type: '\x04' }]);
    assert.match(mistyped.shown, /The fingerprint does not match\. Please type 'yes', 'no' or the fingerprint: /);
    assert.match(mistyped.shown, /kmx: host key verification failed: no answer \(end of input\)/);
    // Typed ahead of the question: the end of input is the answer to the next one, not a crash.
    const ahead = await mountAtTerminal('', [], [{ after: question, type: 'SHA256:not-it\r\x04' }]);
    assert.match(ahead.shown, /kmx: host key verification failed: no answer \(end of input\)/);
    for (const r of [interrupted, ended, mistyped, ahead]) {
      assert.doesNotMatch(r.shown, /\n\s+at /, 'no stack trace');
      assert.deepEqual(await mountsUnder(r.mnt), []);
    }
    assert.equal(await readFile(fresh, 'utf8').catch(() => ''), '', 'nothing recorded');
    const yes = await mountAtTerminal('yes');
    assert.equal(yes.code, 0, yes.shown);
    await kmx(['umount', yes.mnt]);
    assert.match(await readFile(fresh, 'utf8'), /^\|1\|\S+ ssh-ed25519 \S+\n$/, 'recorded, hashed');
    await writeFile(fresh, '');
    const printed = await mountAtTerminal(fingerprint);
    assert.equal(printed.code, 0, printed.shown);
    await kmx(['umount', printed.mnt]);
    // BatchMode: no question, the one-line error.
    await writeFile(fresh, '');
    const batch = await atTerminal([process.execPath, kmxBin(), 'sftp', 'mount', '--daemon', '-F', config, '-o', `UserKnownHostsFile=${fresh}`, `target:${srv}`, join(dir, 'srv')], [], { env: ENV(dir) });
    assert.notEqual(batch.code, 0);
    assert.doesNotMatch(batch.stdout, /Are you sure/);
    assert.match(batch.stdout, /kmx: the host key of \[127\.0\.0\.1\]:\d+ is not known/);
  })));

  it('mounts the login directory for a host without :path, and through ssh_command, sftp_server and directport', () => temporaryDirectory((dir) => withServers(dir, async ({ config, srv }) => {
    const home = (await readdir('/root')).sort();
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, 'target', mnt], async (mnt) => assert.deepEqual((await readdir(mnt)).sort(), home));
    const wrapper = `sh -c 'echo used >> ${dir}/ssh_command.log; exec ssh "$@"' ssh`;
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, '-o', `ssh_command=${wrapper}`, `target:${srv}`, mnt], hello);
    assert.equal(await readFile(join(dir, 'ssh_command.log'), 'utf8'), 'used\n', 'OpenSSH\'s client ran as ssh');
    await mounted(dir, (mnt) => ['sftp', 'mount', '-F', config, '-o', `sftp_server=${SFTP_SERVER},nonempty`, `target:${srv}`, mnt], hello);
    const noSubsystem = await kmx(['sftp', 'mount', '-F', config, '-o', 'sftp_server=nosuch', `target:${srv}`, join(dir, 'srv')], { env: ENV(dir) });
    assert.match(noSubsystem.stderr, /^kmx: target has no SFTP service nosuch: [^\n]*; check -o sftp_server\n$/);
    await withDirectSftpServer(async (port) => {
      await mounted(dir, (mnt) => ['sftp', 'mount', '-o', `directport=${port}`, `127.0.0.1:${srv}`, mnt], hello);
    });
  })));
});

/** An sftp-server per TCP connection on a loopback port (what sshfs -o directport expects). */
async function withDirectSftpServer(body: (port: number) => Promise<void>): Promise<void> {
  const children: ChildProcess[] = [];
  const server: Server = createServer((socket) => {
    const child = spawn(SFTP_SERVER, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    children.push(child);
    socket.pipe(child.stdin!);
    child.stdout!.pipe(socket);
    socket.on('error', () => child.kill());
    socket.on('close', () => child.kill());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  try {
    await body(port);
  } finally {
    server.close();
    for (const child of children) child.kill('SIGKILL');
  }
}
