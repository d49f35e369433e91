import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, link, lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertOneLineError, runKmx, sh, temporaryDirectory } from '@kmx/core/testing';

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

  it('writes each key to a new 0600 file renamed into place: never through a loose file, a hard link or a symlink already there', () => temporaryDirectory(async (dir) => {
    const certs = join(dir, 'certs');
    await mkdir(certs, { mode: 0o700 });
    // web-key.pem: a file anyone may read, with a second name that must keep what it holds.
    await writeFile(join(certs, 'web-key.pem'), 'old\n');
    await chmod(join(certs, 'web-key.pem'), 0o644);
    await link(join(certs, 'web-key.pem'), join(dir, 'second-name'));
    // db-key.pem: a symlink to a file elsewhere; cache-key.pem: one to a file that does not exist yet.
    const elsewhere = join(dir, 'elsewhere.txt');
    await writeFile(elsewhere, 'elsewhere\n');
    await chmod(elsewhere, 0o644);
    await symlink(elsewhere, join(certs, 'db-key.pem'));
    await symlink(join(dir, 'made-through-a-link'), join(certs, 'cache-key.pem'));
    // ca-key.pem is new: the CA is made on this run.
    const r = await runKmx(['procsys', 'certs', '--dir', certs, '--node', 'web', '--node', 'db', '--node', 'cache']);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['web', 'db', 'cache', 'ca']) {
      const key = join(certs, `${name}-key.pem`);
      const st = await lstat(key);
      assert.ok(st.isFile(), `${name}-key.pem is a file of its own, not a link`);
      assert.equal(st.mode & 0o777, 0o600, `${name}-key.pem`);
      assert.equal(st.nlink, 1, `${name}-key.pem has one name`);
      createPrivateKey(await readFile(key));
    }
    assert.equal(await readFile(join(dir, 'second-name'), 'utf8'), 'old\n', 'the old file was not written to');
    assert.equal((await stat(join(dir, 'second-name'))).mode & 0o777, 0o644);
    assert.equal(await readFile(elsewhere, 'utf8'), 'elsewhere\n', 'the symlink\'s target was not written to');
    assert.equal(existsSync(join(dir, 'made-through-a-link')), false, 'nothing was made through a dangling link');
    assert.deepEqual((await readdir(certs)).filter((n) => n.startsWith('.')), [], 'no temporary file left');
    assert.equal((await sh(`openssl verify -CAfile '${certs}/ca.pem' '${certs}/web.pem' '${certs}/db.pem' '${certs}/cache.pem'`)).code, 0);
    const web = new X509Certificate(await readFile(join(certs, 'web.pem')));
    assert.ok(web.checkPrivateKey(createPrivateKey(await readFile(join(certs, 'web-key.pem')))), 'the key belongs to its certificate');
  }));

  it('refuses a directory others may write to, in one line', () => temporaryDirectory(async (dir) => {
    const certs = join(dir, 'open');
    await mkdir(certs);
    await chmod(certs, 0o777);
    assertOneLineError(await runKmx(['procsys', 'certs', '--dir', certs, '--node', 'web']), /open may be written by others \(mode 0777\)/);
    assert.deepEqual(await readdir(certs), []);
  }));
});
