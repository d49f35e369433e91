import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { assertOneLineError, runKmx, temporaryDirectory } from '@kmx/core/testing';
import { connectAgent, unary } from '../src/lib/rpc/client.js';
import { startAgentProcess } from '../src/testing/index.js';

// Writes through an agent reach only the keys its owner listed. Every write here puts back
// the value the key already has: the machine is left as it was, and no other test can tell.

describe('kmx procsys serve --writable-keys', () => {
  it('writes the listed keys (and the keys below a listed DIR/) and refuses every other with EACCES; a change of the list applies at once', () => temporaryDirectory(async (dir) => {
    const list = join(dir, 'writable-keys');
    await writeFile(list, '# keys remote clients may set\nkernel/printk_ratelimit_burst\n/proc/sys/net/ipv4/conf/lo/\n', { mode: 0o600 });
    const agent = await startAgentProcess(['--insecure', '--name', 'w', '--writable-keys', list]);
    const client = connectAgent('w', agent.address, grpc.credentials.createInsecure());
    try {
      const write = async (path: string, data?: Buffer): Promise<string> => {
        const value = data ?? readFileSync(`/proc/${path}`);
        const reply = await unary(client.write.bind(client), { path, offset: 0, data: value }, Date.now() + 10_000);
        if (!reply.error) assert.equal(reply.written, value.length, path);
        return reply.error || 'written';
      };
      assert.equal((await unary(client.hello.bind(client), {}, Date.now() + 10_000)).writable, true);
      assert.equal(await write('sys/kernel/printk_ratelimit_burst'), 'written');
      assert.equal(await write('sys/net/ipv4/conf/lo/accept_local'), 'written', 'below a listed directory');
      assert.equal(await write('sys/kernel/core_pattern'), 'EACCES', 'core_pattern: code execution as root');
      assert.equal(await write('sys/kernel/printk_ratelimit'), 'EACCES', 'a key next to a listed one');
      assert.equal(await write('sys/net/ipv4/conf/all/accept_local'), 'EACCES');
      assert.equal(await write('sys/net/ipv4/conf/lo', Buffer.from('0\n')), 'EACCES', 'the directory itself');
      assert.equal(await write(`sys/kernel/printk_ratelimit_burst/../core_pattern`, Buffer.from('x\n')), 'EINVAL');
      assert.equal(await write(`${process.pid}/oom_score_adj`), 'EACCES', 'only below sys/');

      // The owner takes a key off the list: refused from the next write on.
      await writeFile(`${list}.new`, 'net/ipv4/conf/lo/\n', { mode: 0o600 });
      await rename(`${list}.new`, list);
      assert.equal(await write('sys/kernel/printk_ratelimit_burst'), 'EACCES');
      assert.equal(await write('sys/net/ipv4/conf/lo/accept_local'), 'written');
      // A list others may change is not trusted: nothing is written.
      await chmod(list, 0o666);
      assert.equal(await write('sys/net/ipv4/conf/lo/accept_local'), 'EACCES');
      assert.match(agent.output(), /may be written by others/);
    } finally {
      client.close();
      await agent.stop();
    }
  }));

  it('refuses to start with a glob, a list others may write, or the old --writable; a plain agent refuses writes with EROFS', () => temporaryDirectory(async (dir) => {
    const glob = join(dir, 'glob');
    await writeFile(glob, 'kernel/printk*\n', { mode: 0o600 });
    assertOneLineError(await runKmx(['procsys', 'serve', '--insecure', '--listen', '127.0.0.1:0', '--writable-keys', glob]), /glob:1: globs are not accepted/);
    const loose = join(dir, 'loose');
    await writeFile(loose, 'kernel/printk_ratelimit\n');
    await chmod(loose, 0o664);
    assertOneLineError(await runKmx(['procsys', 'serve', '--insecure', '--listen', '127.0.0.1:0', '--writable-keys', loose]), /may be written by others \(mode 0664\)/);
    assertOneLineError(await runKmx(['procsys', 'serve', '--insecure', '--listen', '127.0.0.1:0', '--writable']), /--writable is gone: .*--writable-keys FILE/, 2);

    const agent = await startAgentProcess(['--insecure', '--name', 'r']);
    const client = connectAgent('r', agent.address, grpc.credentials.createInsecure());
    try {
      const reply = await unary(client.write.bind(client), { path: 'sys/kernel/printk_ratelimit', offset: 0, data: readFileSync('/proc/sys/kernel/printk_ratelimit') }, Date.now() + 10_000);
      assert.equal(reply.error, 'EROFS');
    } finally {
      client.close();
      await agent.stop();
    }
  }));
});
