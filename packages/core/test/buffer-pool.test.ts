// The data path's buffer pools: buffers come back for reuse, and each size class serves the
// writes that fit it, so a small write never holds the largest buffer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferPool, SizedBufferPool } from '../src/index.js';

describe('buffer pools', () => {
  it('reuse what was given back, up to the idle buffers they keep', () => {
    const pool = new BufferPool(1024, 1);
    const a = pool.take();
    const b = pool.take();
    pool.give(a);
    pool.give(b); // one more than it keeps
    assert.equal(pool.take(), a);
    assert.notEqual(pool.take(), b);
  });

  it('serve each take from the smallest size that fits', () => {
    const pools = new SizedBufferPool([[16, 4], [128, 4], [1024, 4]]);
    assert.deepEqual([1, 16, 17, 128, 129, 1024].map((n) => pools.take(n).length), [16, 16, 128, 128, 1024, 1024]);
    const big = pools.take(5000);
    assert.equal(big.length, 5000, 'larger than every class: exactly its size');
    const small = pools.take(10);
    pools.give(small);
    pools.give(big); // not pooled: ignored
    assert.equal(pools.take(12), small);
    assert.notEqual(pools.take(5000), big);
  });
});
