import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { LocalProc } from '../src/lib/proc/local-proc.js';
import { agentHandlers } from '../src/lib/rpc/agent.js';

/** Calls one of the agent's handlers on this host's real /proc, the way gRPC would. */
function call<Req, Res>(handler: grpc.handleUnaryCall<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    handler({ request } as grpc.ServerUnaryCall<Req, Res>, (err, reply) => (err ? reject(err) : resolve(reply as Res)));
  });
}

describe('agent: what a remote client may read', () => {
  const agent = agentHandlers(new LocalProc(), { writable: false, name: 'test' });
  const read = (path: string): Promise<string> => call(agent.read, { path, offset: 0, length: 65536 }).then((r) => r.error || r.data.toString());

  it('serves world-readable /proc files, its process table and net/', async () => {
    assert.match(await read('meminfo'), /^MemTotal:/);
    assert.match(await read('1/stat'), /^1 \(/);
    assert.match(await read('net/dev'), /Inter-\|/);
    const list = await call(agent.list, { path: '', follow: false });
    assert.equal(list.error, '');
    assert.ok(list.entries.some((e) => e.name === String(process.pid)));
  });

  it('never leaves /proc, nor shows what only ptrace access would (environ, maps, fds, links)', async () => {
    for (const path of ['self/root/etc/passwd', '1/root/etc/passwd', `${process.pid}/cwd/package.json`, 'self/cwd/package.json', 'thread-self/root/etc/hostname', `${process.pid}/environ`, `${process.pid}/maps`, `${process.pid}/task/${process.pid}/maps`, 'kallsyms']) {
      assert.equal(await read(path), 'EACCES', path);
    }
    assert.equal(await read('../etc/passwd'), 'EINVAL');
    assert.equal(await read('/etc/passwd'), 'EINVAL');
    assert.equal((await call(agent.list, { path: `${process.pid}/fd`, follow: false })).error, 'EACCES');
    assert.equal((await call(agent.list, { path: 'self/root', follow: false })).error, 'EACCES');
    assert.equal((await call(agent.readLink, { path: `${process.pid}/exe`, follow: false })).error, 'EACCES');
    assert.equal((await call(agent.stat, { path: 'self/fd/0', follow: false })).error, 'EACCES');
  });

  it('refuses writes unless started --writable, and then outside sys/', async () => {
    assert.equal((await call(agent.write, { path: 'sys/kernel/printk_ratelimit', offset: 0, data: Buffer.from('5\n') })).error, 'EROFS');
    const writable = agentHandlers(new LocalProc(), { writable: true, name: 'test' });
    assert.equal((await call(writable.write, { path: `${process.pid}/oom_score_adj`, offset: 0, data: Buffer.from('0\n') })).error, 'EACCES');
    assert.equal((await call(writable.write, { path: 'sys/../meminfo', offset: 0, data: Buffer.from('0\n') })).error, 'EINVAL');
  });
});
