import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run, kmxBin } from '@kmx/core/testing';
import { defaultHostName } from '../src/lib/cluster/peers.js';

describe('this host\'s name when --name is not given', () => {
  it('is the kernel\'s host name (short where asked), or localhost where it is unset or unusable', () => {
    assert.equal(defaultHostName({ kernelName: 'web1.example.com' }), 'web1.example.com');
    assert.equal(defaultHostName({ kernelName: 'web1.example.com', short: true }), 'web1');
    for (const unusable of ['(none)', '', '-dash', 'x'.repeat(64)]) assert.equal(defaultHostName({ kernelName: unusable, short: true }), 'localhost', unusable);
  });

  it('lets kmx procsys serve start on a machine whose host name was never set ("(none)")', async () => {
    // A UTS namespace of its own, named as a kernel that was never given a name.
    const script = `printf '(none)' > /proc/sys/kernel/hostname && exec timeout -s INT 3 '${process.execPath}' '${kmxBin()}' procsys serve --insecure --listen 127.0.0.1:0`;
    const r = await run('unshare', ['-u', 'sh', '-c', script]);
    assert.match(r.stderr + r.stdout, /serving localhost's \/proc on 127\.0\.0\.1:\d+/, r.stderr);
    assert.doesNotMatch(r.stderr, /invalid host name/);
  });
});
