// The parts of kmx sftp that read ssh's own files: targets, ~/.ssh/config, known_hosts.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory } from '@kmx/core/testing';
import { hostMatches, readHostConfig } from '../src/lib/ssh/config.js';
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
  });

  it('refuses what is not a remote directory, with a usage error', () => {
    for (const bad of ['/local/path', 'host', '@host:/x', 'host:99999:/x', '']) {
      assert.throws(() => parseTarget(bad), (err: Error & { exitCode?: number }) => err.exitCode === 2, bad);
    }
  });
});

describe('~/.ssh/config', () => {
  it('matches Host patterns with wildcards and negation', () => {
    assert.ok(hostMatches(['*.example.org'], 'a.example.org'));
    assert.ok(!hostMatches(['*.example.org', '!secret.example.org'], 'secret.example.org'));
    assert.ok(hostMatches(['web?'], 'web1'));
    assert.ok(!hostMatches(['web?'], 'web10'));
  });

  it('takes the first value of each keyword, accumulates IdentityFile, follows Include, skips Match', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'conf.d'));
    await writeFile(join(dir, 'conf.d', 'extra'), 'Host box\n  IdentityFile ~/.ssh/from_include\n');
    await writeFile(join(dir, 'config'), [
      `Include ${dir}/conf.d/*`,
      'Host box',
      '  HostName 127.0.0.7',
      '  Port 2200',
      '  User alice',
      '  IdentityFile /keys/%h_%r',
      'Match exec "false"',
      '  User mallory',
      'Host *',
      '  User bob',
      '  Port=22',
      '  StrictHostKeyChecking accept-new',
      '  UserKnownHostsFile /kh/%h',
    ].join('\n'));
    const c = readHostConfig('box', join(dir, 'config'));
    assert.equal(c.hostName, '127.0.0.7');
    assert.equal(c.port, 2200);
    assert.equal(c.user, 'alice');
    assert.equal(c.strictHostKeyChecking, 'accept-new');
    assert.deepEqual(c.identityFiles.map((f) => f.replace(process.env.HOME ?? '', '~')).slice(0, 2), ['~/.ssh/from_include', '/keys/127.0.0.7_alice']);
    assert.deepEqual(c.userKnownHostsFiles, ['/kh/127.0.0.7']);
    assert.equal(readHostConfig('other', join(dir, 'config')).user, 'bob');
    assert.equal(readHostConfig('x', join(dir, 'missing')).hostName, 'x');
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
