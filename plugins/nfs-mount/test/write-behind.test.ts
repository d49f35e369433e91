import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SysError } from '@kmx/core';
import { WriteBehind } from '../src/lib/userspace/write-behind.js';

/** The user-space NFS mount's write-behind: copies in reused slabs, deferred errors, a byte limit. */

describe('kmx nfs write-behind', () => {
  it('sends a copy: the caller may overwrite its buffer as soon as the write is queued', async () => {
    const writes = new WriteBehind(4 << 20);
    const seen: string[] = [];
    const data = Buffer.from('first');
    await writes.addCopy(data, 0, async (copy) => {
      await sleep(20);
      seen.push(copy.toString());
    });
    data.write('later');
    await writes.addCopy(data, 0, async (copy) => seen.push(copy.toString()));
    await writes.drain();
    assert.deepEqual(seen.sort(), ['first', 'later']);
  });

  it('keeps at most its limit in flight', async () => {
    const writes = new WriteBehind(2 << 20);
    let inFlight = 0;
    let most = 0;
    for (let i = 0; i < 8; i++) {
      await writes.addCopy(Buffer.alloc(1 << 20, i), i << 20, async (copy) => {
        inFlight += copy.length;
        most = Math.max(most, inFlight);
        await sleep(5);
        assert.equal(copy[0], i, 'a slab was reused while its write was in flight');
        inFlight -= copy.length;
      });
    }
    await writes.drain();
    assert.ok(most <= 2 << 20, `${most} bytes were in flight`);
  });

  it('reports a failed write once, at the next write or drain', async () => {
    const writes = new WriteBehind(4 << 20);
    await writes.addCopy(Buffer.from('x'), 0, () => Promise.reject(SysError.of('ENOSPC', 'write')));
    await writes.settled();
    await assert.rejects(writes.addCopy(Buffer.from('y'), 0, async () => undefined), { code: 'ENOSPC' });
    await writes.drain();
  });

  it('tells when the writes over a range have landed, not waiting for others', async () => {
    const writes = new WriteBehind(4 << 20);
    const landed: string[] = [];
    const slow = (name: string, ms: number) => async (): Promise<void> => {
      await sleep(ms);
      landed.push(name);
    };
    await writes.addCopy(Buffer.alloc(100), 0, slow('0-100', 30));
    await writes.addCopy(Buffer.alloc(100), 1000, slow('1000-1100', 200));
    await writes.landed(50, 60);
    assert.deepEqual(landed, ['0-100']);
    await writes.landed(100, 1000); // touches neither
    assert.deepEqual(landed, ['0-100']);
    await writes.landed(1099, 2000);
    assert.deepEqual(landed, ['0-100', '1000-1100']);
  });
});
