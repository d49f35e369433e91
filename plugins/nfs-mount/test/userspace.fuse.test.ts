import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sh, withTestMount } from '@kmx/core/testing';
import { userspaceArgs, withGanesha } from './harness.js';

/** kmx nfs --userspace against nfs-ganesha on loopback: libnfs through FUSE, NFSv3 and v4.0. */

for (const version of ['3', '4'] as const) {
  describe(`user-space NFS, v${version === '4' ? '4.0' : '3'}`, () => {
    it('reads, writes, creates, renames, unlinks, makes dirs and moves a large file', () => withGanesha((g) => withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version) }, async (m) => {
      const server = g.exportDir;
      writeFileSync(join(server, 'existing.txt'), 'from the server\n');
      assert.equal(readFileSync(join(m.mnt, 'existing.txt'), 'utf8'), 'from the server\n');
      writeFileSync(join(m.mnt, 'new.txt'), 'from the client\n');
      assert.equal(readFileSync(join(server, 'new.txt'), 'utf8'), 'from the client\n');
      const r = await sh(`cd '${m.mnt}' && mkdir -p d/e && echo x > d/e/f && mv d/e/f d/g && chmod 640 d/g && stat -c '%a %s' d/g && rm d/g && rmdir d/e && ls d && rmdir d && ls`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '640 2\nexisting.txt\nnew.txt\n');
      assert.equal(existsSync(join(server, 'd')), false);
      // libnfs's messages carry the path: names that read like its transport failures are still
      // only names (a missing one is ENOENT, not EIO; tar x of /usr/include/linux hit these)
      const names = await sh(`cd '${m.mnt}' && for n in socket.h connector.h nf_cttimeout.h; do cat $n 2>&1; echo x > $n && cat $n && rm $n; done`);
      assert.equal(names.code, 0, names.stderr);
      assert.equal(names.stdout.replace(/^cat: /gm, ''), ['socket.h', 'connector.h', 'nf_cttimeout.h'].map((n) => `${n}: No such file or directory\nx\n`).join(''));
      // a large file: v3 in 1 MiB calls, v4.0 in libnfs 4.0's 2 KiB writes
      const size = version === '3' ? 64 : 4;
      const data = randomBytes(size * 1024 * 1024);
      writeFileSync(join(m.dir, 'big.src'), data);
      const cp = await sh(`cp '${m.dir}/big.src' '${m.mnt}/big' && cmp '${m.dir}/big.src' '${server}/big' && cmp '${server}/big' '${m.mnt}/big' && echo same`, { timeoutMs: 240_000 });
      assert.equal(cp.stdout, 'same\n', cp.stderr);
      const mtime = await sh(`touch -m -d '2001-02-03 04:05:06' '${m.mnt}/new.txt' && stat -c %Y '${server}/new.txt'`);
      assert.equal(mtime.stdout.trim(), String(Date.UTC(2001, 1, 3, 4, 5, 6) / 1000 + new Date(2001, 1, 3).getTimezoneOffset() * 60));
      assert.deepEqual(readdirSync(m.mnt).sort(), ['big', 'existing.txt', 'new.txt']);
    })));

    it('fails a read with EIO, without hanging, when the server stops mid-read', () => withGanesha((g) => withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version, ['--timeout', '2']) }, async (m) => {
      writeFileSync(join(g.exportDir, 'big'), randomBytes(16 * 1024 * 1024));
      const first = await sh(`dd if='${m.mnt}/big' of=/dev/null bs=1M count=1 status=none && echo ok`);
      assert.equal(first.stdout, 'ok\n', first.stderr);
      // a file opened while the server answered, written after it stopped: the deferred
      // (write-behind) failure comes back from fsync
      const written = await sh(`exec 3>'${m.mnt}/late' && kill -STOP ${g.pid} && dd if=/dev/zero bs=1M count=4 conv=fsync status=none >&3`, { timeoutMs: 60_000 });
      assert.notEqual(written.code, 0, 'a write to a stopped server succeeded');
      assert.equal(written.signal, null, 'the write hung');
      assert.match(written.stderr, /Input\/output error/);
      const started = Date.now();
      const rest = await sh(`dd if='${m.mnt}/big' of=/dev/null bs=1M skip=8 status=none`, { timeoutMs: 60_000 });
      assert.notEqual(rest.code, 0);
      assert.equal(rest.signal, null, 'dd had to be killed: the read hung');
      assert.match(rest.stderr, /Input\/output error/);
      assert.ok(Date.now() - started < 45_000);
      process.kill(g.pid, 'SIGCONT');
    })));
  });
}
