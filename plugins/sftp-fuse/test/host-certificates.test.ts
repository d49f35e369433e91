// known_hosts' @cert-authority: host certificates made by OpenSSH's ssh-keygen, checked by kmx,
// offline (CA key types, principals, validity, the certified key) and against a real sshd.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { certificateProblem, parseCertificate } from '../src/lib/ssh/host-certificate.js';
import { startSshd } from '../src/testing/index.js';
import { execute, kmx } from './support.js';

async function keygen(args: string[]): Promise<void> {
  const r = await execute('ssh-keygen', ['-q', ...args]);
  assert.equal(r.code, 0, r.stderr);
}

/** A public key file's blob. */
async function blobOf(file: string): Promise<Buffer> {
  return Buffer.from((await readFile(file, 'utf8')).trim().split(/\s+/)[1]!, 'base64');
}

/** Signs `hostKey`.pub with `ca` as a host certificate; returns the certificate's blob. */
async function certify(ca: string, hostKey: string, principals: string, validity = '-5m:+1h', user = false): Promise<Buffer> {
  await keygen(['-s', ca, '-I', 'test host', ...(user ? [] : ['-h']), '-n', principals, '-V', validity, `${hostKey}.pub`]);
  return blobOf(`${hostKey}-cert.pub`);
}

describe('host certificates (@cert-authority)', () => {
  it('accepts a certificate of a listed CA for this host, now, of this key; says why it refuses any other', () => temporaryDirectory(async (dir) => {
    const host = join(dir, 'host');
    await keygen(['-t', 'ed25519', '-N', '', '-f', host]);
    const other = join(dir, 'other');
    await keygen(['-t', 'ed25519', '-N', '', '-f', other]);
    const hostKey = await blobOf(`${host}.pub`);
    for (const type of [['-t', 'ed25519'], ['-t', 'rsa', '-b', '2048'], ['-t', 'ecdsa', '-b', '256'], ['-t', 'ecdsa', '-b', '384'], ['-t', 'ecdsa', '-b', '521']]) {
      const ca = join(dir, `ca-${type.join('')}`);
      await keygen([...type, '-N', '', '-f', ca]);
      const caKey = await blobOf(`${ca}.pub`);
      const cert = parseCertificate(await certify(ca, host, 'files.example,127.0.0.1'));
      assert.equal(certificateProblem(cert, hostKey, '127.0.0.1', [caKey]), undefined, type.join(' '));
      assert.deepEqual([cert.keyId, cert.principals], ['test host', ['files.example', '127.0.0.1']]);
      assert.equal(certificateProblem(cert, hostKey, 'elsewhere.example', [caKey]), 'it is for files.example, 127.0.0.1, not elsewhere.example');
      assert.equal(certificateProblem(cert, await blobOf(`${other}.pub`), '127.0.0.1', [caKey]), 'it certifies another key than the one the server offered');
      assert.equal(certificateProblem(cert, hostKey, '127.0.0.1', [await blobOf(`${other}.pub`)]), 'no @cert-authority line lists its CA');
      assert.equal(certificateProblem(cert, hostKey, '127.0.0.1', [caKey], new Date('2020-01-01')), 'it is not valid now');
      const tampered = parseCertificate(await certify(ca, host, '127.0.0.1'));
      tampered.signed[40]! ^= 1; // a flipped bit in what the CA signed (its nonce)
      assert.equal(certificateProblem(tampered, hostKey, '127.0.0.1', [caKey]), 'its signature does not verify');
      assert.equal(certificateProblem(parseCertificate(await certify(ca, host, '127.0.0.1', '-5m:+1h', true)), hostKey, '127.0.0.1', [caKey]), 'it is not a host certificate');
    }
    assert.throws(() => parseCertificate(hostKey), /not a certificate/);
    const whole = await certify(join(dir, 'ca--ted25519'), host, 'x');
    assert.throws(() => parseCertificate(whole.subarray(0, 80)), /truncated/);
  }));

  it('mounts a host whose certificate a @cert-authority CA signed, with no key of its own listed; refuses a certificate for another name', () => temporaryDirectory(async (dir) => {
    const sshdDir = join(dir, 'sshd');
    await mkdir(sshdDir, { mode: 0o700 });
    const hostKey = join(sshdDir, 'host_ed25519');
    await keygen(['-t', 'ed25519', '-N', '', '-f', hostKey]);
    const ca = join(dir, 'ca');
    await keygen(['-t', 'ed25519', '-N', '', '-f', ca]);
    await certify(ca, hostKey, '127.0.0.1');
    const sshd = await startSshd(sshdDir, { extraConfig: `HostCertificate ${hostKey}-cert.pub` });
    try {
      const srv = join(dir, 'srv');
      await mkdir(srv);
      await writeFile(join(srv, 'hello.txt'), 'certified\n');
      const knownHosts = join(dir, 'known_hosts');
      await writeFile(knownHosts, `@cert-authority [127.0.0.1]:* ${(await readFile(`${ca}.pub`, 'utf8')).trim()}\n`);
      const args = (mnt: string): string[] => ['sftp', 'mount', '-i', sshd.clientKey, '-o', `UserKnownHostsFile=${knownHosts},BatchMode=yes`, `root@127.0.0.1:${sshd.port}:${srv}`, mnt];
      const env = { ...process.env, HOME: join(dir, 'home'), SSH_AUTH_SOCK: '' };
      await withTestMount({ env, args: ({ mnt }) => args(mnt) }, async ({ mnt, output }) => {
        assert.equal(await readFile(join(mnt, 'hello.txt'), 'utf8'), 'certified\n');
        assert.match(output(), /is certified by a CA of known_hosts \(certificate "test host"\)/);
      });
      assert.equal(await readFile(knownHosts, 'utf8').then((t) => t.split('\n').filter(Boolean).length), 1, 'nothing recorded: the CA vouches');
      // The same server, its certificate now for another name: refused, and why.
      await certify(ca, hostKey, 'files.example');
      await sshd.stop();
      const again = await startSshd(sshdDir, { extraConfig: `HostCertificate ${hostKey}-cert.pub`, port: sshd.port });
      try {
        const refused = await kmx(args(join(dir, 'srv')), { env });
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /^kmx: the host key of \[127\.0\.0\.1\]:\d+ is not known \(ssh-ed25519 key SHA256:\S+\); its certificate was refused: it is for files\.example, not 127\.0\.0\.1; /);
      } finally {
        await again.stop();
      }
    } finally {
      await sshd.stop();
    }
  }));
});
