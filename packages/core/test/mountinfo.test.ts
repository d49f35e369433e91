import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deviceString, libc, mountAt, parseMountinfo, probeMount, readMountinfo } from '@kmx/core';
import { temporaryDirectory } from '@kmx/core/testing';
import { statSync } from 'node:fs';

describe('mountinfo', () => {
  it('parses optional fields and unescapes paths', () => {
    const [m] = parseMountinfo('36 35 98:0 /mnt1 /a\\040b\\012c rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n');
    assert.ok(m);
    assert.equal(m.mountId, 36);
    assert.equal(m.parentId, 35);
    assert.equal(m.device, '98:0');
    assert.equal(m.mountpoint, '/a b\nc');
    assert.equal(m.fstype, 'ext3');
    assert.equal(m.source, '/dev/root');
    assert.equal(m.superOptions, 'rw,errors=continue');
  });

  it('finds a real mount with a space and a newline in its path, and its device', () => temporaryDirectory(async (dir) => {
    const target = join(dir, 'with space\nand newline');
    await mkdir(target);
    libc.mount('kmx-test', target, 'tmpfs', libc.MS_NOSUID | libc.MS_NODEV, 'size=1m');
    try {
      const m = mountAt(await readMountinfo(), target);
      assert.equal(m?.fstype, 'tmpfs');
      assert.equal(m?.source, 'kmx-test');
      assert.equal(m?.device, deviceString(statSync(target).dev));
      assert.equal(m?.mountId, libc.mountId(target));
    } finally {
      libc.umount2(target);
    }
  }));

  it('tells a stale mount by the reason after the path, not by words in the path', () => temporaryDirectory(async (dir) => {
    // stat's message quotes the path: "cannot statx '…: Transport endpoint is not connected': No such file…"
    assert.equal(await probeMount(join(dir, 'x: Transport endpoint is not connected')), 'ok');
    assert.equal(await probeMount(dir), 'ok');
  }));
});
