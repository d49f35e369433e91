import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Limiter } from '../src/lib/cluster/limiter.js';
import { ScanActivity, ScanSnapshot } from '../src/lib/cluster/scan-snapshot.js';
import { TtlCache } from '../src/lib/cluster/ttl-cache.js';

describe('in-flight bound and cache', () => {
  it('never runs more than the bound at once, and gives up on a slot at the deadline', async () => {
    const limiter = new Limiter(3);
    let running = 0;
    let most = 0;
    const task = async (): Promise<void> => {
      running++;
      most = Math.max(most, running);
      await sleep(20);
      running--;
    };
    await Promise.all(Array.from({ length: 12 }, () => limiter.run(Date.now() + 5000, task)));
    assert.equal(most, 3);
    assert.equal(limiter.inFlight, 0);
    const blockers = Array.from({ length: 3 }, () => limiter.run(Date.now() + 5000, () => sleep(300)));
    const started = Date.now();
    await assert.rejects(limiter.run(Date.now() + 50, task), (err: Error & { code?: string }) => err.code === 'ETIMEDOUT');
    assert.ok(Date.now() - started < 250, 'rejected at its deadline, not when a slot freed');
    await Promise.all(blockers);
  });

  it('keeps answers and errors for the TTL and shares identical requests in flight', async () => {
    const cache = new TtlCache(100);
    let loads = 0;
    const load = async (): Promise<number> => {
      loads++;
      await sleep(10);
      return loads;
    };
    assert.deepEqual(await Promise.all([cache.get('k', load, () => true), cache.get('k', load, () => true)]), [1, 1]);
    assert.equal(await cache.get('k', load, () => true), 1);
    await sleep(120);
    assert.equal(await cache.get('k', load, () => true), 2);
    const failing = async (): Promise<number> => {
      loads++;
      throw Object.assign(new Error('gone'), { code: 'ENOENT' });
    };
    await assert.rejects(cache.get('e', failing, () => true));
    await assert.rejects(cache.get('e', failing, () => true));
    assert.equal(loads, 3, 'the error was cached');
    const off = new TtlCache(0);
    await off.get('k', load, () => true);
    await off.get('k', load, () => true);
    assert.equal(loads, 5, 'TTL 0 caches nothing');
  });

  it('drops answers nobody asks for again once they expire', async () => {
    const cache = new TtlCache(50);
    for (let i = 0; i < 100; i++) cache.put(`gone-${i}`, i);
    assert.equal(cache.size, 100);
    await sleep(60);
    cache.put('new', 1);
    assert.equal(cache.size, 1, 'the expired answers went with the next put');
    assert.deepEqual(cache.peek('new'), { value: 1 });
  });

  it('a scan answers from its batches while its reads go on, runs each batch once, and ends on a pause', async () => {
    const scan = new ScanSnapshot(50);
    assert.equal(scan.active, false, 'no scan before a listing');
    scan.start();
    let loads = 0;
    await Promise.all([scan.batch('p', async () => void loads++), scan.batch('p', async () => void loads++)]);
    assert.equal(loads, 1);
    scan.put('r/1/stat', 'text');
    scan.putError('r/2/stat', Object.assign(new Error('gone'), { code: 'ENOENT' }));
    assert.deepEqual(scan.peek('r/1/stat'), { value: 'text' });
    assert.throws(() => scan.peek('r/2/stat'), /gone/);
    for (let i = 0; i < 4; i++) {
      await sleep(30);
      assert.deepEqual(scan.peek('r/1/stat'), { value: 'text' }, 'kept past its window while read');
    }
    await sleep(1100);
    assert.equal(scan.peek('r/1/stat'), undefined, 'a pause ended it');
    scan.start();
    scan.stop();
    assert.equal(scan.active, false);
  });

  it('a host\'s scan stays on while the scans of other hosts are read (ps reaches the last hosts late)', async () => {
    const activity = new ScanActivity();
    const [early, late, otherView] = [new ScanSnapshot(50, activity), new ScanSnapshot(50, activity), new ScanSnapshot(50)];
    for (const [scan, key] of [[early, 'r/1/stat'], [late, 'r/2/stat'], [otherView, 'r/3/stat']] as const) {
      scan.start();
      scan.put(key, key);
    }
    // Longer than the pause that ends a scan, reading only the first host.
    for (let i = 0; i < 7; i++) {
      await sleep(200);
      assert.deepEqual(early.peek('r/1/stat'), { value: 'r/1/stat' });
    }
    assert.deepEqual(late.peek('r/2/stat'), { value: 'r/2/stat' }, 'past its window, never read, but the view\'s scan goes on');
    assert.equal(otherView.peek('r/3/stat'), undefined, 'another view\'s reads do not keep it on');
    await sleep(1100);
    assert.equal(late.peek('r/2/stat'), undefined, 'a pause of every host ends it');
  });
});

