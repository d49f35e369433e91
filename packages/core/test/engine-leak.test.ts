import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Attr, FileSystem } from '@kmx/core';
import { run } from '@kmx/core/testing';
import { withMemoryMount } from './engine-memory-fs.js';

/**
 * No leak in the libfuse3 engine: a million requests against a filesystem answered from
 * memory (half synchronously, half through promises; stats, listings with READDIRPLUS,
 * opens and reads) leave the serving process's RSS within 10 % of where it stood after the
 * first 200,000.
 */

const REQUESTS = 1_000_000;
const now = { sec: 1_700_000_000, nsec: 0 };
const dir: Attr = { mode: 0o40755, nlink: 2, uid: 0, gid: 0, size: 0, atime: now, mtime: now, ctime: now };
const file: Attr = { ...dir, mode: 0o100644, nlink: 1, size: 4096 };
const names = Array.from({ length: 50 }, (_, i) => `entry-${i}`);

function nullFs(count: () => void): FileSystem {
  let flip = false;
  return {
    getattr: (path) => {
      count();
      const attr = path === '/' || path === '/d' ? dir : file;
      flip = !flip;
      return flip ? attr : Promise.resolve(attr);
    },
    readdir: (path) => {
      count();
      return path === '/d' ? names.map((name) => ({ name, attr: file })) : [{ name: 'f' }, { name: 'd' }];
    },
    open: () => {
      count();
      return { fh: 1 };
    },
    read: (_path, _fh, buffer) => {
      count();
      buffer.fill(120);
      return Promise.resolve(buffer.length);
    },
    release: () => count(),
  };
}

/** Each round: 1,000 stats of one file (LOOKUP + GETATTR each), a listing of 50 entries, 10 stats in it, one open and read. */
const client = (mnt: string, rounds: number): string => `
import os
for _ in range(${rounds}):
    for _ in range(1000):
        os.stat("${mnt}/f")
    for name in os.listdir("${mnt}/d")[:10]:
        os.stat("${mnt}/d/" + name)
    with open("${mnt}/f", "rb") as f:
        f.read()
`;

describe('the libfuse3 engine over a million requests', () => {
  it('keeps its RSS within 10 %', { timeout: 900_000 }, async (t) => {
    let requests = 0;
    const samples: { requests: number; rss: number }[] = [];
    await withMemoryMount(nullFs(() => requests++), { attrTimeout: 0, entryTimeout: 0 }, async (mnt) => {
      const timer = setInterval(() => samples.push({ requests, rss: process.memoryUsage().rss }), 100);
      try {
        const r = await run('/usr/bin/python3', ['-c', client(mnt, Math.ceil(REQUESTS / 2000))], { timeoutMs: 900_000 });
        assert.equal(r.code, 0, r.stderr);
      } finally {
        clearInterval(timer);
      }
    });
    assert.ok(requests >= REQUESTS, `only ${requests} requests`);
    // The baseline: the highest RSS seen while the first 200,000 requests were served (after warm-up).
    const warm = samples.filter((s) => s.requests >= 100_000 && s.requests <= 200_000);
    const late = samples.filter((s) => s.requests >= REQUESTS * 0.9);
    assert.ok(warm.length > 0 && late.length > 0, `too few samples (${samples.length})`);
    const baseline = Math.max(...warm.map((s) => s.rss));
    const final = Math.max(...late.map((s) => s.rss));
    const mb = (n: number): string => (n / 1048576).toFixed(1);
    t.diagnostic(`${requests} filesystem calls; RSS ${mb(baseline)} MiB after 200,000, at most ${mb(final)} MiB in the last 10 %`);
    assert.ok(final <= baseline * 1.1, `RSS grew from ${mb(baseline)} to ${mb(final)} MiB`);
  });
});
