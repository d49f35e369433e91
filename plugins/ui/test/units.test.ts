import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mountCommandLine } from '../src/lib/api/mount-forms.js';
import { parseStatus } from '../src/lib/api/procsys.js';
import { hostAllowed } from '../src/lib/security/guard.js';
import { procNetAddress } from '../src/lib/security/peer-uid.js';
import { ApiError } from '../src/lib/server/routes.js';

// The pieces that need no server: the forms' command lines (no field may become a flag or a
// line break), procsys's /status table, /proc/net/tcp's address spelling, Host names.

describe('kmx ui: the mount forms\' command lines', () => {
  it('each plugin\'s fields become its flags, passwords go to stdin only', () => {
    assert.deepEqual(mountCommandLine('passthrough', { source: '/src', mountpoint: '/mnt', readOnly: true }), { args: ['passthrough', '--daemon', '--option=ro', '/src', '/mnt'] });
    const sftp = mountCommandLine('sftp', { remote: 'alice@host:/srv', mountpoint: '/mnt', port: '2222', password: 'p w', acceptNewHostKey: true });
    assert.deepEqual(sftp.args, ['sftp', 'mount', '--daemon', '--port=2222', '--accept-new-host-key', '--option=password_stdin', 'alice@host:/srv', '/mnt']);
    assert.equal(sftp.stdin, 'p w\n');
    assert.equal(mountCommandLine('sftp', { remote: 'h:', mountpoint: '/m' }).stdin, undefined);
    const enc = mountCommandLine('enc', { dir: '/c', mountpoint: '/m', password: 'secret', reverse: true });
    assert.deepEqual(enc, { args: ['enc', 'mount', '--daemon', '--reverse', '/c', '/m'], stdin: 'secret\n' });
    assert.deepEqual(mountCommandLine('nfs', { mode: 'userspace', source: 'srv:/export', name: 'data', vers: '3', port: '2049', mountpoint: '/m' }).args,
      ['nfs', 'mount', '--userspace', '--vers=3', '--port=2049', '--mountpoint=/m', 'srv:/export', 'data']);
    assert.deepEqual(mountCommandLine('nfs', { source: 'srv:/export', mountpoint: '/ignored', link: '/home/a/l' }).args, ['nfs', 'mount', '--kernel', '--link=/home/a/l', 'srv:/export']);
    assert.deepEqual(mountCommandLine('procsys', { mountpoint: '/p', peers: 'a=10.0.0.2:7447, b=10.0.0.3:7447', certs: '/c', name: 'me', allowDown: true }).args,
      ['procsys', 'mount', '--daemon', '--peer=a=10.0.0.2:7447', '--peer=b=10.0.0.3:7447', '--certs=/c', '--name=me', '--allow-down', '/p']);
  });

  it('refuses what could become a flag, a second line or a wrong type', () => {
    const refused = (kind: string, body: unknown, message: RegExp): void => {
      assert.throws(() => mountCommandLine(kind, body), (err: unknown) => err instanceof ApiError && err.status >= 400 && message.test(err.message));
    };
    refused('passthrough', { source: '--help', mountpoint: '/m' }, /source must not start with "-"/);
    refused('passthrough', { source: '/s', mountpoint: '-o' }, /mountpoint must not start/);
    refused('passthrough', { source: '/s\n', mountpoint: '/m' }, /source is not a valid value/);
    refused('passthrough', { source: 1, mountpoint: '/m' }, /source must be a string/);
    refused('passthrough', { source: '/s', mountpoint: '/m', readOnly: 'yes' }, /readOnly must be true or false/);
    refused('passthrough', { mountpoint: '/m' }, /source is required/);
    refused('enc', { dir: '/c', mountpoint: '/m' }, /password is required/);
    refused('enc', { dir: '/c', mountpoint: '/m', password: 'a\nb' }, /password is not a valid value/);
    refused('sftp', { remote: 'h:', mountpoint: '/m', port: '22; rm' }, /port must be a port number/);
    refused('nfs', { source: 's:/e', mode: 'root' }, /mode is kernel or userspace/);
    refused('nfs', { source: 's:/e', name: '--kernel' }, /name must not start/);
    refused('procsys', { mountpoint: '/p', peers: 'a=1 --writable' }, /peers are NAME=HOST:PORT/);
    refused('nope', {}, /no mount form for nope/);
    refused('passthrough', { source: 'relative/dir', mountpoint: '/m' }, /source must be an absolute path/);
    refused('enc', { dir: '/c', mountpoint: 'm', password: 'x' }, /mountpoint must be an absolute path/);
    refused('sftp', { remote: 'h:', mountpoint: '/m', identity: '.ssh/id' }, /identity must be an absolute path/);
    refused('procsys', { mountpoint: '/p', certs: 'certs' }, /certs must be an absolute path/);
    refused('passthrough', [], /expected a JSON object/);
  });
});

describe('kmx ui: small parsers', () => {
  it('procsys /status, a last column with spaces', () => {
    const text = `NAME  STATE  ADDRESS          SLOT  PID_BASE  RTT_MS  SINCE                     LAST_ERROR
me    local  -                0     0         -       2026-12-08T01:49:57.867Z
b     down   10.0.0.3:7447    2     8388608   -       2026-12-08T01:50:00.000Z  connect ECONNREFUSED 10.0.0.3:7447
`;
    assert.deepEqual(parseStatus(text), [
      { name: 'me', state: 'local', address: '-', rttMs: '-', since: '2026-12-08T01:49:57.867Z', lastError: '' },
      { name: 'b', state: 'down', address: '10.0.0.3:7447', rttMs: '-', since: '2026-12-08T01:50:00.000Z', lastError: 'connect ECONNREFUSED 10.0.0.3:7447' },
    ]);
  });

  it('/proc/net/tcp addresses, and Host names', () => {
    assert.equal(procNetAddress('127.0.0.1', 8080), '0100007F:1F90');
    assert.equal(procNetAddress('::ffff:127.0.0.1', 1), '0100007F:0001');
    assert.equal(procNetAddress('::1', 1), undefined);
    const tcp = { kind: 'tcp', port: 8080 } as const;
    assert.ok(hostAllowed('127.0.0.1:8080', tcp) && hostAllowed('localhost:8080', tcp));
    for (const bad of [undefined, '', '127.0.0.1', '127.0.0.1:80', 'LOCALHOST:8080', '127.1:8080', 'evil:8080', '127.0.0.1:8080 ']) assert.ok(!hostAllowed(bad, tcp), String(bad));
    const unix = { kind: 'unix', path: '/s' } as const;
    assert.ok(hostAllowed('localhost', unix) && hostAllowed('127.0.0.1:9000', unix));
    assert.ok(!hostAllowed('evil.example', unix) && !hostAllowed('evil.example:80', unix));
  });
});
