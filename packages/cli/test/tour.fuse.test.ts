import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { runKmx, temporaryDirectory } from '@kmx/core/testing';

describe('kmx tour', () => {
  it('runs every step on its built-in data and leaves nothing behind', () => temporaryDirectory(async (dir) => {
    // Its own TMPDIR: other tests make and remove their kmx-tour-* directories meanwhile.
    const r = await runKmx(['tour'], { timeoutMs: 240_000, env: { ...process.env, TMPDIR: dir } });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /== kmx passthrough/);
    assert.match(r.stdout, /written through the mount/);
    assert.match(r.stdout, /2001-02-03 04:05:06\.123456789/);
    assert.match(r.stdout, /^\S*kmx-tour-\S*\/view +passthrough +\S*kmx-tour-\S*\/photos +\d+ +\S+ +ok$/m, 'kmx mounts lists the tour\'s mount');
    assert.match(r.stdout, /== Done ==/);
    assert.deepEqual(await readdir(dir), [], 'the tour removes everything it made');
  }));
});
