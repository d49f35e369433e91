import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory, withTestUsers } from '@kmx/core/testing';
import { readMountinfo } from '../src/mount/index.js';
import { ask, withDaemon, type Answer } from './kmxd-harness.js';

/**
 * kmxd's SMB request kind against hostile requests: option smuggling through every field,
 * identity options, oversized fields. This kernel has no CIFS client, so what passes every check
 * ends at the helper's fsopen("cifs") with ENODEV; the real mount is tested in the software VM.
 */

/** A password travels as bytes; the test client sends JSON, where protobufjs takes bytes as base64. */
const smb = (extra: Record<string, unknown> = {}, password: Buffer = Buffer.from('secret')): object => ({
  mountSmb: { name: 's', server: '192.0.2.10', share: 'share', user: 'alice', password: password.toString('base64'), ...extra },
});

function refused(answer: Answer | undefined, errno: string | string[], what: string): void {
  assert.equal(answer?.kind, 'error', `${what}: expected ${String(errno)}, got ${JSON.stringify(answer)}`);
  const expected = Array.isArray(errno) ? errno : [errno];
  assert.ok(expected.includes(answer.value.errno ?? ''), `${what}: ${JSON.stringify(answer.value)}`);
  assert.ok((answer.value.message ?? '').length > 0 && !(answer.value.message ?? '').includes('\n'), `${what}: one-line message`);
}

describe('kmxd: SMB mount requests', () => {
  it('refuses smuggled options, identity options, bad names and oversized fields; takes a password of every byte value but NUL to the helper and nowhere else', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => {
    assert.ok(alice);
    // Servers only in a documentation range: nothing leaves the machine.
    writeFileSync(join(dir, 'kmxd.conf'), 'smb-servers 192.0.2.0/24\nsmb-ports 445 4445\n');
    return withDaemon(dir, async (d) => {
      const option = (key: string, value = ''): object => smb({ options: [{ key, value }] });
      const hostile: Array<[string, object, string | string[]]> = [
        ['user with a comma', smb({ user: 'alice,uid=0' }), 'EINVAL'],
        ['user with =', smb({ user: 'uid=0' }), 'EINVAL'],
        ['user with a backslash', smb({ user: 'DOM\\alice' }), 'EINVAL'],
        ['user with a slash', smb({ user: 'DOM/alice' }), 'EINVAL'],
        ['user with NUL', smb({ user: 'alice\u0000x' }), 'EINVAL'],
        ['user with a newline', smb({ user: 'alice\nx' }), 'EINVAL'],
        ['user of 300 bytes', smb({ user: 'u'.repeat(300) }), 'EINVAL'],
        ['domain with a comma', smb({ domain: 'CORP,forceuid' }), 'EINVAL'],
        ['domain with a tab', smb({ domain: 'CORP\tx' }), 'EINVAL'],
        ['password with NUL', smb({}, Buffer.from('a\u0000b')), 'EINVAL'],
        ['password of 600 bytes', smb({}, Buffer.alloc(600, 0x61)), 'EINVAL'],
        ['no password', smb({}, Buffer.alloc(0)), 'EINVAL'],
        ['kerberos with a password', smb({ kerberos: true }), 'EINVAL'],
        ['option credentials=', option('credentials', '/root/creds'), 'EPERM'],
        ['option uid=0', option('uid', '0'), 'EPERM'],
        ['option gid=0', option('gid', '0'), 'EPERM'],
        ['option forceuid', option('forceuid'), 'EPERM'],
        ['option setuids', option('setuids'), 'EPERM'],
        ['option dynperm', option('dynperm'), 'EPERM'],
        ['option multiuser', option('multiuser'), 'EPERM'],
        ['option noperm', option('noperm'), 'EPERM'],
        ['option file_mode', option('file_mode', '4777'), 'EPERM'],
        ['option cruid', option('cruid', '0'), 'EPERM'],
        ['option username', option('username', 'root'), 'EPERM'],
        ['option password', option('password', 'x'), 'EPERM'],
        ['option sec', option('sec', 'none'), 'EPERM'],
        ['option ip', option('ip', '10.0.0.1'), 'EPERM'],
        ['option suid', option('suid'), 'EPERM'],
        ['option __proto__', option('__proto__'), 'EPERM'],
        ['option with a comma in its key', option('soft,uid=0'), 'EINVAL'],
        ['option with a comma in its value', option('cache', 'none,setuids'), 'EINVAL'],
        ['option with a bad value', option('cache', 'always'), 'EINVAL'],
        ['share with a comma', smb({ share: 'share,uid=0' }), 'EINVAL'],
        ['share with a slash', smb({ share: 'a/b' }), 'EINVAL'],
        ['empty share', smb({ share: '' }), 'EINVAL'],
        ['path with ..', smb({ path: '/a/../../b' }), 'EINVAL'],
        ['relative path', smb({ path: 'a' }), 'EINVAL'],
        ['server with an option', smb({ server: '192.0.2.10,ip=10.0.0.1' }), 'EINVAL'],
        ['server of this host', smb({ server: '127.0.0.1' }), 'EACCES'],
        ['server outside smb-servers', smb({ server: '198.51.100.1' }), 'EACCES'],
        ['port not in smb-ports', smb({ port: 139 }), 'EACCES'],
        ['port out of range', smb({ port: 70000 }), 'EINVAL'],
        ['unknown version', smb({ version: 9 }), 'EINVAL'],
        ['name ..', smb({ name: '..' }), 'EINVAL'],
      ];
      const answers = await ask(alice, d.socket, ...hostile.map(([, request]) => request));
      assert.equal(answers.length, hostile.length);
      hostile.forEach(([what, , errno], i) => refused(answers[i], errno, what));

      // Every byte value but NUL, "," and "=" among them: nothing to escape, since the helper
      // gives it to fsconfig whole. Here it gets as far as this kernel's missing CIFS client.
      const everyByte = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1));
      const marker = Buffer.from('kmx-secret-4f2a,=');
      const [reached] = await ask(alice, d.socket, smb({ name: 'every-byte', port: 4445, options: [{ key: 'cache', value: 'none' }, { key: 'ro', value: '' }] }, Buffer.concat([marker, everyByte])));
      refused(reached, 'ENODEV', 'a mount that passed every check');
      assert.match(reached!.value.message ?? '', /fsopen/);

      assert.deepEqual((await readMountinfo()).filter((m) => m.mountpoint.startsWith(d.media)), [], 'nothing mounted');
      assert.deepEqual(readdirSync(join(d.media, alice.name)), [], 'no mount dir left');
      assert.ok(!d.log().includes('kmx-secret-4f2a'), 'the password is not in the log');
      for (const file of readdirSync(join(dir, 'state'), { recursive: true })) {
        const path = join(dir, 'state', String(file));
        try {
          assert.ok(!readFileSync(path).includes(marker), `the password is not in ${path}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
        }
      }
    }, ['--config', join(dir, 'kmxd.conf')]);
  })));
});
