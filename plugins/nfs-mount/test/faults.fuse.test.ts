import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { listedMount, python, sh, withTestMount } from '@kmx/core/testing';
import { userspaceArgs, withGanesha } from './harness.js';

/**
 * kmx nfs --userspace when the export fills, as the fault table in docs/architecture.md gives it (the server
 * killed and restarted is reconnect.fuse.test.ts's): what the writer sees, what `kmx mounts`
 * says, what survives, and how it recovers.
 */

for (const version of ['3', '4'] as const) {
  describe(`user-space NFS v${version === '4' ? '4.0' : '3'} under faults`, () => {
    // libnfs 4.0 answers a WRITE the server refused on v3 as it answers a broken connection
    // (EFAULT): kmx used to reconnect and send it again (and again) and say EIO; its own words
    // ("Write failed with NFS3ERR_NOSPC") tell them apart.
    const refusal = 'No space left on device';
    it('export full: ENOSPC at a later write, fsync or close, the old data kept, ok once there is room', () => withGanesha((g) => withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version) }, async ({ mnt, output }) => {
      const old = Buffer.alloc(100_000, 'o');
      await writeFile(join(mnt, 'kept'), old);
      // Writes are answered before they land: the refusal comes with a later write, the fsync or the close.
      const out = await python([
        'import os',
        'def fill(name, flags):',
        '    f = os.open(name, flags)',
        '    try:',
        '        while True: os.write(f, b"x" * 65536)',
        '    except OSError as e: print(e.strerror)',
        '    try: os.fsync(f); os.close(f)',
        '    except OSError as e: print(e.strerror)',
        `fill('${mnt}/filler', os.O_WRONLY | os.O_CREAT)`,
        `fill('${mnt}/kept', os.O_WRONLY | os.O_APPEND)`,
      ], { timeoutMs: 120_000 });
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual([...new Set(out.stdout.trim().split('\n'))], [refusal], out.stdout);
      const kept = await readFile(join(g.exportDir, 'kept'));
      assert.ok(kept.subarray(0, old.length).equals(old), 'what was there before is intact on the server');
      assert.equal((await listedMount(mnt, 'ok'))?.state, 'ok');
      const again = await sh(`rm '${mnt}/filler' && printf more >> '${mnt}/kept' && tail -c 4 '${mnt}/kept' && echo new > '${mnt}/new' && cat '${mnt}/new'`);
      assert.equal(again.stdout, 'morenew\n', again.stderr);
      assert.doesNotMatch(output(), /connection to the NFS server lost/, 'a refusal is not a lost connection');
    }), { exportMib: 2 }));
  });
}
