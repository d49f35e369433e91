import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Tour, readMountinfo } from '@kmx/core';
import { kmxBin } from '@kmx/core/testing';
import tour from '../src/hooks/tour.js';
import { childrenOf } from './lab.js';

describe('the kmx ns part of the tour', () => {
  it('shows the hidden user namespace, the bind-held one and a PID namespace, and stops all it started', async () => {
    let output = '';
    const guide = new Tour({ kmx: kmxBin(), write: (text) => (output += text) });
    const before = childrenOf(process.pid);
    try {
      await tour({ tour: guide });
      const dir = await guide.dir();
      assert.deepEqual(childrenOf(process.pid).filter((p) => !before.includes(p)), [], 'no process left');
      assert.deepEqual((await readMountinfo()).filter((m) => m.mountpoint.startsWith(dir)), [], 'no bind mount left');
    } finally {
      await guide.cleanUp();
    }
    assert.match(output, /no process \(hidden, intermediate\) owner root \(0\)/);
    assert.match(output, /^\d+ +net +0 +- +- +bind-mount +\[bind mount \S+\/netns\]$/m);
    assert.match(output, /^[├└]── pid:\[\d+\] process "sleep" \(\d+, 1 proc\) owner user:\[4026531837\] root \(0\)$/m);
  });
});
