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
    let dir = '';
    try {
      await tour({ tour: guide });
      dir = await guide.dir();
      assert.deepEqual(childrenOf(process.pid).filter((p) => !before.includes(p)), [], 'no process left');
      assert.deepEqual((await readMountinfo()).filter((m) => m.mountpoint.startsWith(dir)), [], 'no bind mount left');
    } finally {
      await guide.cleanUp();
    }
    // Other tests may be discovering namespaces at the same time, holding an fd of each for a
    // moment: the tour's own namespaces are checked, and such fds allowed beside what it made.
    const sleeper = Number(/# pid (\d+)\n/.exec(output)?.[1]);
    const tree = output.split('\n');
    const inner = tree.findIndex((line) => line.includes(`process "sleep" (${sleeper}, 1 proc)`));
    assert.ok(inner > 0, `the sleeper's user namespace in the tree:\n${output}`);
    const depth = (line: string): number => line.search(/user:\[/);
    const outer = tree.slice(0, inner).reverse().find((line) => depth(line) >= 0 && depth(line) < depth(tree[inner]!));
    assert.match(outer ?? '', /user:\[\d+\] no process(?: \(hidden, intermediate\)|, held by fd \d+ of "[^"]+" \(\d+\)(?:, fd \d+ of "[^"]+" \(\d+\))*(?:, \+\d+ more)?) owner root \(0\)$/, 'its parent, without a process of its own');
    const netns = output.split('\n').find((line) => line.includes(`bind mount ${dir}/netns`) && / net /.test(line));
    // lsns's columns for net (NETNSID, NSFS: the bind mount) and kmx's FOUND.
    assert.match(netns ?? '', new RegExp(`^\\d+ +net +0 +- +- +unassigned +${dir}/netns +(\\S+,)?bind-mount(,\\S+)? +\\[`), `the bind-held network namespace, with no process:\n${output}`);
    assert.match(output, /^[├└]── pid:\[\d+\] process "sleep" \(\d+, 1 proc\) owner user:\[4026531837\] root \(0\)$/m);
  });
});
