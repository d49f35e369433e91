import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { runKmx } from '@kmx/core/testing';

describe('kmx tour', () => {
  it('runs every step on its built-in data and leaves nothing behind', async () => {
    const before = new Set((await readdir(tmpdir())).filter((n) => n.startsWith('kmx-tour-')));
    const r = await runKmx(['tour'], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /== kmx passthrough/);
    assert.match(r.stdout, /written through the mount/);
    assert.match(r.stdout, /2001-02-03 04:05:06\.123456789/);
    assert.match(r.stdout, /^\S*kmx-tour-\S*\/view +passthrough +\S*kmx-tour-\S*\/photos +\d+ +\S+ +ok$/m, 'kmx mounts lists the tour\'s mount');
    assert.match(r.stdout, /== Done ==/);
    const after = (await readdir(tmpdir())).filter((n) => n.startsWith('kmx-tour-') && !before.has(n));
    assert.deepEqual(after, [], 'the tour removes its directory');
  });
});
