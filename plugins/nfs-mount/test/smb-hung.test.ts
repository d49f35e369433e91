import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sh, withTestMount } from '@kmx/core/testing';
import { smbArgs, withSmbd } from './smbd-peer.js';

/** A server that stops answering but keeps its connection open (SIGSTOP): libsmbclient's timeout ends the wait. */

describe('user-space SMB against a server that stops answering', () => {
  it('fails a read with EIO after the --timeout instead of hanging, and reads again once the server goes on', () => withSmbd((peer) => withTestMount({ args: ({ mnt }) => smbArgs(peer, mnt), env: { PASSWD: peer.password } }, async (m) => {
    writeFileSync(join(peer.shareDir, 'f'), 'x'.repeat(1_000_000));
    peer.pause();
    const started = Date.now();
    let hung;
    try {
      hung = await sh(`echo 3 > /proc/sys/vm/drop_caches; timeout 60 cat '${m.mnt}/f' > /dev/null; echo rc=$?`, { timeoutMs: 90_000 });
    } finally {
      peer.resume();
    }
    const took = Date.now() - started;
    assert.equal(hung.stdout, 'rc=1\n', hung.stderr);
    assert.match(hung.stderr, /Input\/output error/);
    assert.ok(took < 30_000, `the read failed after ${took} ms (--timeout 3)`);
    const again = await sh(`head -c 3 '${m.mnt}/f'`, { timeoutMs: 60_000 });
    assert.equal(again.stdout, 'xxx', again.stderr);
  })));
});
