import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runKmx, sh, temporaryDirectory } from '@kmx/core/testing';

describe('kmx procsys certs', () => {
  it('makes a CA once and node certificates that openssl verifies, for server and client use', () => temporaryDirectory(async (dir) => {
    const certs = join(dir, 'certs');
    const first = await runKmx(['procsys', 'certs', '--dir', certs, '--node', 'web', '--node', 'db', '--alt-name', 'web=10.0.0.2']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /created the cluster CA/);
    for (const key of ['ca-key.pem', 'web-key.pem', 'db-key.pem']) assert.equal((await stat(join(certs, key))).mode & 0o777, 0o600, key);
    const verify = await sh(`openssl verify -CAfile '${certs}/ca.pem' '${certs}/web.pem' '${certs}/db.pem'`);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const web = new X509Certificate(await readFile(join(certs, 'web.pem')));
    assert.match(web.subjectAltName ?? '', /DNS:web/);
    assert.match(web.subjectAltName ?? '', /IP Address:10\.0\.0\.2/);
    assert.deepEqual(web.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(web.ca, false);
    assert.equal(new X509Certificate(await readFile(join(certs, 'ca.pem'))).ca, true);
    const ca = await readFile(join(certs, 'ca.pem'), 'utf8');
    const second = await runKmx(['procsys', 'certs', '--dir', certs, '--node', 'cache', '--json']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).createdCa, false);
    assert.equal(await readFile(join(certs, 'ca.pem'), 'utf8'), ca, 'the CA is reused');
    assert.equal((await sh(`openssl verify -CAfile '${certs}/ca.pem' '${certs}/cache.pem'`)).code, 0);
  }));
});
