import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runKmx, withTestMount } from '@kmx/core/testing';
import { smbArgs, withSmbd } from './smbd-peer.js';

/** kmx nfs backup onto a user-space SMB mount, unchanged: rsync through kmx smb. */

describe('kmx nfs backup onto an SMB mount', () => {
  it('syncs once, resyncs only what changed, and --delete removes what is gone', () => withSmbd((peer) => withTestMount({ args: ({ mnt }) => smbArgs(peer, mnt), env: { PASSWD: peer.password } }, async (m) => {
    const src = join(m.dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'a');
    writeFileSync(join(src, 'sub', 'b.bin'), randomBytes(3_000_000));
    const first = await runKmx(['nfs', 'backup', src, join(m.mnt, 'backup')]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /synced .*: 2 files copied \(2\.9 MiB\)/);
    assert.deepEqual(readFileSync(join(peer.shareDir, 'backup', 'sub', 'b.bin')), readFileSync(join(src, 'sub', 'b.bin')));
    const again = await runKmx(['nfs', 'backup', src, join(m.mnt, 'backup')]);
    assert.match(again.stdout, /0 files copied/, 'times survive on the share, so nothing is sent twice');
    rmSync(join(src, 'a.txt'));
    writeFileSync(join(src, 'c.txt'), 'c');
    const second = await runKmx(['nfs', 'backup', '--delete', src, join(m.mnt, 'backup')]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /1 files? copied .*1 deleted/);
    assert.equal(existsSync(join(peer.shareDir, 'backup', 'a.txt')), false);
    assert.equal(readFileSync(join(peer.shareDir, 'backup', 'c.txt'), 'utf8'), 'c');
  })));
});
