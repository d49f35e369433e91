import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory } from '@kmx/core/testing';
import { SysError } from '../src/errors/index.js';
import { MountHelper, holdMountNamespace } from '../src/mount/index.js';
import { withHeldMountNamespace } from './held-namespace.js';

/** Parking kmx-nshelper in a mount namespace that has no process, to reach its paths from Node. */

describe('holding a mount namespace', () => {
  it('reaches files of a namespace that only a bind mount keeps alive, then lets go', () => temporaryDirectory(async (dir) => {
    const setup = (marker: string): string[] => ['sh', '-c', `mount -t tmpfs -o size=1m kmx-hold-marker '${marker}' && echo inside > '${marker}/file'`];
    await withHeldMountNamespace(dir, setup, async (nsFile, marker) => {
      const hold = await new MountHelper().holdMountNamespace(nsFile);
      try {
        assert.equal(readFileSync(`${hold.root}${marker}/file`, 'utf8'), 'inside\n');
        assert.equal(existsSync(join(marker, 'file')), false, 'the tmpfs is not in our namespace');
        const theirs = readlinkSync(`/proc/${hold.pid}/ns/mnt`);
        assert.notEqual(theirs, readlinkSync('/proc/self/ns/mnt'));
      } finally {
        await hold.release();
      }
      assert.equal(existsSync(`/proc/${hold.pid}/root`), false, 'the helper is gone');
      await hold.release(); // idempotent
    });
  }));

  it('reports what is not a mount namespace as the helper saw it', () => temporaryDirectory(async (dir) => {
    writeFileSync(join(dir, 'plain'), '');
    for (const path of [join(dir, 'plain'), '/proc/self/ns/net']) {
      await assert.rejects(holdMountNamespace(path), (err: unknown) => err instanceof SysError && err.code === 'EINVAL' && err.syscall === 'setns');
    }
    await assert.rejects(holdMountNamespace(join(dir, 'missing')), (err: unknown) => err instanceof SysError && err.code === 'ENOENT');
  }));
});
