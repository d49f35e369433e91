import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scriptOutput } from '@kmx/core/testing';
import { same, withPosixMount } from './posix-compare.js';

/** fallocate(2) through kmx passthrough, every mode the backing filesystem (ext4) has, against a plain directory. */

const PY = '/usr/bin/python3';

describe('kmx passthrough: fallocate', () => {
  it('allocates (growing the file or not), punches holes, zeroes and collapses ranges as the backing filesystem does', () => withPosixMount(async (m) => {
    await same(m, 'root', `
      fallocate -l 1M f; stat -c '%s %b' f
      fallocate -n -o 1M -l 1M f; stat -c '%s' f; du -k f | cut -f1
      yes abcdefgh | head -c 3145728 > g; fallocate -p -o 4096 -l 65536 g; stat -c '%s' g; od -An -tx1 -j 4096 -N 16 g
      fallocate -z -o 131072 -l 8192 g; od -An -tx1 -j 131072 -N 16 g; stat -c '%s' g
      fallocate -p -o 1 -l 10 g; echo "unaligned punch=$?"
      ${PY} -c 'import os; f = os.open("g", os.O_RDONLY); os.posix_fallocate(f, 0, 10)' 2>&1 | tail -1
      sha256sum g`);
    // The kernel's FUSE module passes on only KEEP_SIZE, PUNCH_HOLE and ZERO_RANGE: collapsing
    // and inserting ranges are refused before they reach kmx, as on every FUSE filesystem.
    const refused = await scriptOutput(m.mnt, 'fallocate -c -o 0 -l 4096 g; fallocate -i -o 0 -l 4096 g');
    assert.equal(refused, 'fallocate: fallocate failed: Operation not supported\nfallocate: fallocate failed: Operation not supported\nexit=1\n');
    await same(m, 'root', 'touch u; chmod 666 u');
    await same(m, 'user', 'fallocate -l 4096 u; stat -c "%s" u; fallocate -l 4096 g; echo "not mine=$?"');
  }));
});
