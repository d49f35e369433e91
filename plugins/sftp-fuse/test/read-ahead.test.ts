import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BLOCK, ReadAhead } from '../src/lib/filesystem/read-ahead.js';

/** kmx sftp's read-ahead over a file held in memory (the SFTP side is tested by the mount tests). */

function source(file: { data: Buffer }, seen: Set<Buffer>, fail?: (position: number) => boolean) {
  return async (position: number, into: Buffer): Promise<number> => {
    seen.add(into);
    await sleep(1);
    if (fail?.(position)) throw new Error(`no block at ${position}`);
    if (position >= file.data.length) return 0; // as a server answers past the end
    return file.data.copy(into, 0, position, Math.min(file.data.length, position + into.length));
  };
}

async function readAll(reader: ReadAhead, length: number, chunk: number): Promise<Buffer> {
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += chunk) {
    const n = await reader.read(out.subarray(at, Math.min(length, at + chunk)), at);
    assert.equal(n, Math.min(chunk, length - at));
  }
  return out;
}

describe('kmx sftp read-ahead', () => {
  it('reads a file sequentially, reusing its block buffers', async () => {
    const file = { data: randomBytes(400 * BLOCK + 1234) };
    const seen = new Set<Buffer>();
    let fetched = 0;
    const fetch = source(file, seen);
    for (let round = 0; round < 2; round++) {
      const reader = new ReadAhead((position, into) => (fetched++, fetch(position, into)));
      const copy = await readAll(reader, file.data.length, 1 << 20);
      assert.ok(copy.equals(file.data), `round ${round} read other bytes`);
      reader.invalidate(); // as a release does
      await sleep(20); // fetches beyond the end still in flight give their buffers back when done
    }
    assert.ok(seen.size < fetched / 3, `${seen.size} buffers for ${fetched} fetches: few were reused`);
  });

  it('reads what was written after invalidate, even with fetches still in flight', async () => {
    const file = { data: randomBytes(8 * BLOCK) };
    const reader = new ReadAhead(source(file, new Set()));
    await reader.read(Buffer.alloc(BLOCK), 0);
    await reader.read(Buffer.alloc(BLOCK), BLOCK); // sequential: blocks ahead are being fetched
    file.data = randomBytes(8 * BLOCK);
    reader.invalidate();
    const copy = await readAll(reader, file.data.length, BLOCK);
    assert.ok(copy.equals(file.data));
  });

  it('gives a failed block to the reader that needs it, and fetches it again next time', async () => {
    const file = { data: randomBytes(4 * BLOCK) };
    let failing = true;
    const reader = new ReadAhead(source(file, new Set(), (position) => failing && position === 2 * BLOCK));
    await assert.rejects(Promise.resolve(reader.read(Buffer.alloc(BLOCK), 2 * BLOCK)), /no block at/);
    failing = false;
    const out = Buffer.alloc(BLOCK);
    assert.equal(await reader.read(out, 2 * BLOCK), BLOCK);
    assert.ok(out.equals(file.data.subarray(2 * BLOCK, 3 * BLOCK)));
  });

  it('stops at the end of the file and sees it grow', async () => {
    const file = { data: randomBytes(BLOCK + 10) };
    const reader = new ReadAhead(source(file, new Set()));
    const out = Buffer.alloc(2 * BLOCK);
    assert.equal(await reader.read(out, 0), BLOCK + 10);
    file.data = Buffer.concat([file.data, randomBytes(100)]);
    assert.equal(await reader.read(out.subarray(0, 200), BLOCK), 110);
    assert.ok(out.subarray(0, 110).equals(file.data.subarray(BLOCK)));
  });

  it('answers a read that starts past an end that moved back with 0 bytes, not an error', async () => {
    // The kernel still believes the old size (cached attributes) and asks for a page inside a
    // block that is now short or empty.
    const file = { data: randomBytes(4 * BLOCK) };
    const reader = new ReadAhead(source(file, new Set()));
    file.data = file.data.subarray(0, BLOCK + 10);
    const out = Buffer.alloc(4096);
    assert.equal(await reader.read(out, BLOCK + 8192), 0, 'inside the short last block');
    assert.equal(await reader.read(out, 3 * BLOCK + 8192), 0, 'inside a block past the end');
    assert.equal(await reader.read(out, BLOCK + 6), 4);
    assert.ok(out.subarray(0, 4).equals(file.data.subarray(BLOCK + 6)));
  });
});
