import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, cp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { assertOneLineError, runKmx, temporaryDirectory } from '@kmx/core/testing';
import { connectAgent, unary } from '../src/lib/rpc/client.js';
import { channelCredentials, tlsFilesIn } from '../src/lib/rpc/credentials.js';
import { startAgentProcess } from '../src/testing/index.js';

async function makeCerts(dir: string, nodes: readonly string[]): Promise<string> {
  const certs = join(dir, 'certs');
  const r = await runKmx(['procsys', 'certs', '--dir', certs, ...nodes.flatMap((n) => ['--node', n])]);
  assert.equal(r.code, 0, r.stderr);
  return certs;
}

describe('kmx procsys: revoked node certificates', () => {
  it('an agent refuses a revoked node with one clear line, and a node revoked while connected from its next call on', () => temporaryDirectory(async (dir) => {
    const certs = await makeCerts(dir, ['a', 'me', 'other']);
    const revoked = await runKmx(['procsys', 'certs', '--dir', certs, '--revoke', 'me']);
    assert.equal(revoked.code, 0, revoked.stderr);
    const serial = new X509Certificate(await readFile(join(certs, 'me.pem'))).serialNumber.replace(/^0+/, '');
    assert.match(revoked.stdout, new RegExp(`^revoked node me: serial ${serial} in .*revoked\\.txt`, 'm'));
    assert.match(await readFile(join(certs, 'revoked.txt'), 'utf8'), new RegExp(`^serial=${serial}$`, 'm'));

    const agent = await startAgentProcess(['--certs', certs, '--name', 'a']);
    const other = connectAgent('a', agent.address, channelCredentials({ kind: 'tls', files: tlsFilesIn(certs, 'other') }));
    try {
      const refused = await runKmx(['procsys', 'run', '--certs', certs, '--name', 'me', '--peer', `a=${agent.address}`, '--', 'true']);
      assertOneLineError(refused, new RegExp(`^kmx: peer a \\(${agent.address}\\) refused this node: the certificate of "me" \\(serial ${serial}\\) is revoked on this agent`));

      // A node that is not revoked is served; revoked while connected, its next call is refused.
      assert.equal((await unary(other.hello.bind(other), {}, Date.now() + 10_000)).hostname, 'a');
      assert.equal((await runKmx(['procsys', 'certs', '--dir', certs, '--revoke', 'other'])).code, 0);
      await assert.rejects(unary(other.hello.bind(other), {}, Date.now() + 10_000), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.PERMISSION_DENIED);
        assert.match(err.details, /the certificate of "other" \(serial [0-9A-F]+\) is revoked on this agent/);
        return true;
      });
      const read = await unary(other.read.bind(other), { path: 'meminfo', offset: 0, length: 4096 }, Date.now() + 10_000).catch((err: grpc.ServiceError) => err.code);
      assert.equal(read, grpc.status.PERMISSION_DENIED, 'every call, not only the first');
    } finally {
      other.close();
      await agent.stop();
    }
  }));

  it('a client refuses an agent whose certificate its list names, at the handshake', () => temporaryDirectory(async (dir) => {
    const certs = await makeCerts(dir, ['a', 'me']);
    // The agent's own copy of the directory has no revocation list.
    const agentCerts = join(dir, 'agent-certs');
    await cp(certs, agentCerts, { recursive: true });
    assert.equal((await runKmx(['procsys', 'certs', '--dir', certs, '--revoke', 'a'])).code, 0);
    const agent = await startAgentProcess(['--certs', agentCerts, '--name', 'a']);
    try {
      const refused = await runKmx(['procsys', 'run', '--certs', certs, '--name', 'me', '--peer', `a=${agent.address}`, '--', 'true']);
      assertOneLineError(refused, /^kmx: peer a \(.*\) did not answer: the certificate of "a" \(serial [0-9A-F]+\) is revoked in .*revoked\.txt; its certificate is in the revocation list/);
      // Taken off the list, it is accepted again (the check happens before any mount: none is made).
      await rm(join(certs, 'revoked.txt'));
      const client = connectAgent('a', agent.address, channelCredentials({ kind: 'tls', files: tlsFilesIn(certs, 'me'), revoked: { path: join(certs, 'revoked.txt'), required: false } }));
      try {
        assert.equal((await unary(client.hello.bind(client), {}, Date.now() + 10_000)).hostname, 'a');
      } finally {
        client.close();
      }
    } finally {
      await agent.stop();
    }
  }));

  it('a revocation list that cannot be trusted stops the agent at start, in one line', () => temporaryDirectory(async (dir) => {
    const certs = await makeCerts(dir, ['a', 'me']);
    assert.equal((await runKmx(['procsys', 'certs', '--dir', certs, '--revoke', 'me'])).code, 0);
    await chmod(join(certs, 'revoked.txt'), 0o666);
    assertOneLineError(await runKmx(['procsys', 'serve', '--certs', certs, '--name', 'a', '--listen', '127.0.0.1:0']), /revocation list .*revoked\.txt may be written by others/);
    assertOneLineError(await runKmx(['procsys', 'serve', '--certs', certs, '--name', 'a', '--listen', '127.0.0.1:0', '--revoked', join(dir, 'missing')]), /revocation list .*missing cannot be read: ENOENT/);
  }));
});
