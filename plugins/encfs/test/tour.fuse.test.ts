import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Tour, readMountinfo } from '@kmx/core';
import { kmxBin } from '@kmx/core/testing';
import tour from '../src/hooks/tour.js';

describe('the kmx enc part of the tour', () => {
  it('encrypts, shows, restores, and unmounts all it mounted', async () => {
    let output = '';
    const guide = new Tour({ kmx: kmxBin(), write: (text) => (output += text) });
    try {
      await tour({ tour: guide });
      const dir = await guide.dir();
      assert.deepEqual((await readMountinfo()).filter((m) => m.mountpoint.startsWith(dir)), [], 'no mount left');
    } finally {
      await guide.cleanUp();
    }
    assert.match(output, /^Dear diary$/m);
    assert.match(output, /^-r-------- .* gocryptfs\.conf$/m);
    assert.match(output, /^no problems found \(2 directories, 1 files, 0 symlinks, 1 blocks\)$/m);
    assert.match(output, /^[A-Za-z0-9_-]{22}\/[A-Za-z0-9_-]{22}$/m, 'encrypt-path printed an encrypted path');
    assert.match(output, /^restored copy = original$/m);
  });
});
