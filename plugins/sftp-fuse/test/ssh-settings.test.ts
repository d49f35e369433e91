// The parts of kmx sftp that read ssh's own files: targets, ~/.ssh/config, known_hosts.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run, temporaryDirectory } from '@kmx/core/testing';
import { resolveHost } from '../src/lib/ssh/ssh-config.js';
import { addHostKey, checkHostKey, fingerprint, keyType } from '../src/lib/ssh/known-hosts.js';
import { formatTarget, parseTarget } from '../src/lib/ssh/target.js';

function keyBlob(type: string, body: string): Buffer {
  const t = Buffer.from(type);
  const b = Buffer.from(body);
  const out = Buffer.alloc(8 + t.length + b.length);
  out.writeUInt32BE(t.length, 0);
  t.copy(out, 4);
  out.writeUInt32BE(b.length, 4 + t.length);
  b.copy(out, 8 + t.length);
  return out;
}

describe('targets', () => {
  it('parses [user@]host[:port]:[path]', () => {
    assert.deepEqual(parseTarget('alice@example.org:2222:/srv/x'), { user: 'alice', host: 'example.org', port: 2222, path: '/srv/x' });
    assert.deepEqual(parseTarget('myalias:'), { user: undefined, host: 'myalias', port: undefined, path: '' });
    assert.deepEqual(parseTarget('h:docs/a b'), { user: undefined, host: 'h', port: undefined, path: 'docs/a b' });
    assert.deepEqual(parseTarget('[::1]:22:/'), { user: undefined, host: '::1', port: 22, path: '/' });
    assert.equal(formatTarget({ user: 'u', host: '::1', port: 2222, path: '/x' }), 'u@[::1]:2222:/x');
    // A host alone is its login directory, as in sshfs.
    assert.deepEqual(parseTarget('alice@example.org'), { user: 'alice', host: 'example.org', port: undefined, path: '' });
    assert.deepEqual(parseTarget('myalias'), { user: undefined, host: 'myalias', port: undefined, path: '' });
  });

  it('refuses what is not a remote directory, with a usage error', () => {
    for (const bad of ['/local/path', '@host:/x', 'host:99999:/x', '', '-oProxyCommand=x:/', '-host']) {
      assert.throws(() => parseTarget(bad), (err: Error & { exitCode?: number }) => err.exitCode === 2, bad);
    }
  });
});

describe('ssh\'s configuration, as ssh -G resolves it', () => {
  /** ssh's own answer, for comparison. */
  async function sshG(config: string, host: string, extra: readonly string[] = []): Promise<Map<string, string[]>> {
    const r = await run('ssh', ['-G', '-F', config, ...extra, '--', host]);
    assert.equal(r.code, 0, r.stderr);
    const m = new Map<string, string[]>();
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const [key, ...rest] = line.split(' ');
      m.set(key!, [...(m.get(key!) ?? []), rest.join(' ')]);
    }
    return m;
  }

  it('follows Include, Match, wildcards, negation and +/-/^ algorithm lists exactly as ssh', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'conf.d'));
    await writeFile(join(dir, 'conf.d', 'a.conf'), 'Host box\n  IdentityFile ~/.ssh/from_include\n  Ciphers -chacha20-poly1305@openssh.com,aes*-gcm@openssh.com\n');
    await writeFile(join(dir, 'conf.d', 'b.conf'), 'Match host *.wild.example !user mallory\n  Port 2201\n  KexAlgorithms ^curve25519-sha256\n');
    const config = join(dir, 'config');
    await writeFile(config, [
      `Include ${dir}/conf.d/*.conf`,
      'Host box',
      '  HostName 127.0.0.7',
      '  Port 2200',
      '  User alice',
      '  IdentityFile /keys/%h_%r',
      'Match exec "false"',
      '  User mallory',
      'Host *.wild.example !secret.wild.example',
      '  User wilder',
      '  Ciphers +aes128-cbc',
      '  ProxyJump jump@bastion:2222',
      'Host secret.wild.example',
      '  ProxyCommand ssh -W %h:%p gate',
      'Host *',
      '  User bob',
      '  Port=22',
      '  StrictHostKeyChecking accept-new',
      '  UserKnownHostsFile /kh/%h',
    ].join('\n'));
    for (const host of ['box', 'a.wild.example', 'secret.wild.example', 'other']) {
      const kmx = await resolveHost(host, { configFile: config, options: [] });
      const ssh = await sshG(config, host);
      const defaults = await sshG('none', host);
      assert.equal(kmx.hostName, ssh.get('hostname')?.[0], host);
      assert.equal(String(kmx.port), ssh.get('port')?.[0], host);
      assert.equal(kmx.user, ssh.get('user')?.[0], host);
      assert.equal(kmx.strictHostKeyChecking, ssh.get('stricthostkeychecking')?.[0], host);
      assert.deepEqual(kmx.userKnownHostsFiles, ssh.get('userknownhostsfile')?.[0]?.split(' '), host);
      assert.deepEqual(kmx.proxyJump, ssh.get('proxyjump')?.[0], host);
      assert.deepEqual(kmx.proxyCommand, ssh.get('proxycommand')?.[0], host);
      for (const [field, key] of [['ciphers', 'ciphers'], ['kexAlgorithms', 'kexalgorithms']] as const) {
        const changed = ssh.get(key)?.[0] !== defaults.get(key)?.[0];
        assert.deepEqual(kmx[field], changed ? ssh.get(key)?.[0]?.split(',') : undefined, `${host} ${key}`);
      }
    }
    const box = await resolveHost('box', { configFile: config, options: [] });
    assert.deepEqual([box.hostName, box.port, box.user], ['127.0.0.7', 2200, 'alice']);
    assert.deepEqual(box.identityFiles.slice(0, 2), [join(process.env.HOME ?? '', '.ssh', 'from_include'), '/keys/127.0.0.7_alice'], '~ and %-tokens expanded');
    assert.ok(box.ciphers && !box.ciphers.some((c) => c.startsWith('chacha20') || c.endsWith('-gcm@openssh.com')), 'a - list');
    const wild = await resolveHost('a.wild.example', { configFile: config, options: [] });
    assert.deepEqual([wild.port, wild.user, wild.ciphers?.at(-1), wild.kexAlgorithms?.[0]], [2201, 'wilder', 'aes128-cbc', 'curve25519-sha256'], 'Match, + and ^');
    assert.equal((await resolveHost('secret.wild.example', { configFile: config, options: [] })).user, 'bob', 'a negated pattern');
    // The command line comes first, as for ssh: -l, -p, -o.
    const overridden = await resolveHost('box', { configFile: config, user: 'carol', port: 2022, options: [['Ciphers', 'aes256-ctr'], ['ProxyJump', 'hop']] });
    assert.deepEqual([overridden.user, overridden.port, overridden.ciphers, overridden.proxyJump], ['carol', 2022, ['aes256-ctr'], 'hop']);
  }));

  it('refuses what ssh refuses, in one line', () => temporaryDirectory(async (dir) => {
    await assert.rejects(resolveHost('box', { configFile: join(dir, 'missing'), options: [] }), (err: Error) => /^ssh's configuration: /.test(err.message) && !err.message.includes('\n'));
    await assert.rejects(resolveHost('box', { configFile: 'none', options: [['Ciphers', 'no-such-cipher']] }), /ssh's configuration: .*(cipher|Bad)/i);
  }));
});

describe('known_hosts', () => {
  const key = keyBlob('ssh-ed25519', 'the-real-key');
  const other = keyBlob('ssh-ed25519', 'an-impostor');

  it('names a key by type and OpenSSH fingerprint', () => {
    assert.equal(keyType(key), 'ssh-ed25519');
    assert.match(fingerprint(key), /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('knows listed keys (plain, patterns, hashed), reports changed and revoked ones', () => temporaryDirectory(async (dir) => {
    const file = join(dir, 'known_hosts');
    const salt = Buffer.from('0123456789abcdefghij');
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[h]:2222').digest('base64')}`;
    await writeFile(file, [
      `plain.example,10.0.0.1 ssh-ed25519 ${key.toString('base64')}`,
      `*.wild.example ssh-ed25519 ${key.toString('base64')}`,
      `${hashed} ssh-ed25519 ${key.toString('base64')}`,
      `moved.example ssh-ed25519 ${other.toString('base64')}`,
      `@revoked bad.example ssh-ed25519 ${key.toString('base64')}`,
      `rsa-only.example ssh-rsa ${other.toString('base64')}`,
    ].join('\n'));
    assert.deepEqual(checkHostKey([file], 'plain.example', key), { status: 'known' });
    assert.deepEqual(checkHostKey([file], '10.0.0.1', key), { status: 'known' });
    assert.deepEqual(checkHostKey([file], 'a.wild.example', key), { status: 'known' });
    assert.deepEqual(checkHostKey([file], '[h]:2222', key), { status: 'known' });
    assert.deepEqual(checkHostKey([file], 'moved.example', key), { status: 'changed', where: `${file}:4` });
    assert.deepEqual(checkHostKey([file], 'bad.example', key), { status: 'revoked', where: `${file}:5` });
    assert.deepEqual(checkHostKey([file], 'rsa-only.example', key), { status: 'unknown' });
    assert.deepEqual(checkHostKey([file, join(dir, 'missing')], 'new.example', key), { status: 'unknown' });
  }));

  it('records a new key hashed, on a line of its own', () => temporaryDirectory(async (dir) => {
    const file = join(dir, 'ssh', 'known_hosts');
    await mkdir(join(dir, 'ssh'));
    await writeFile(file, `plain.example ssh-ed25519 ${other.toString('base64')}`); // no final newline
    addHostKey(file, '[127.0.0.1]:2222', key);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^\|1\|/);
    assert.deepEqual(checkHostKey([file], '[127.0.0.1]:2222', key), { status: 'known' });
    assert.deepEqual(checkHostKey([file], 'plain.example', other), { status: 'known' });
  }));
});
