// The early scavenge of a client's transport chunks (src/lib/protocol/scavenger.ts).
import assert from 'node:assert/strict';
import { PerformanceObserver, constants, performance, type PerformanceEntry } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { Scavenger } from '../src/lib/protocol/scavenger.js';

/**
 * The kinds of the garbage collections that ran while `body` ran, as perf_hooks reports them
 * (those the test runner's own allocations cause at other times are left out).
 */
async function collections(body: () => void): Promise<number[]> {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  let start = 0;
  let end = 0;
  try {
    start = performance.now();
    body();
    end = performance.now();
    // GC entries are delivered asynchronously.
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    observer.disconnect();
  }
  return entries.filter((e) => e.startTime >= start && e.startTime <= end).map((e) => (e as unknown as { detail: { kind: number } }).detail.kind);
}

describe('Scavenger', () => {
  it('runs a minor GC each time its byte count is reached, and nothing before', async () => {
    const scavenger = new Scavenger(1000);
    assert.deepEqual(await collections(() => scavenger.read(999)), [], 'below the count');
    assert.deepEqual(await collections(() => scavenger.read(1)), [constants.NODE_PERFORMANCE_GC_MINOR], 'at the count, one scavenge');
    assert.deepEqual(await collections(() => {
      for (let i = 0; i < 4; i++) scavenger.read(500);
    }), [constants.NODE_PERFORMANCE_GC_MINOR, constants.NODE_PERFORMANCE_GC_MINOR], 'then again every 1000 bytes');
  });
});
