import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { Attr } from '@kmx/core';
import { run, sh } from '@kmx/core/testing';
import { DirentWriter } from '../src/fuse/engines/libfuse3/dirents.js';
import { NodeTable } from '../src/fuse/engines/libfuse3/nodes.js';
import { sessionArguments } from '../src/fuse/engines/libfuse3/connection.js';
import { MemoryFs, withMemoryMount } from './engine-memory-fs.js';

/** The libfuse3 engine's parts (node table, dirent encoding) and its behaviour on a live mount. */

const t = { sec: 1, nsec: 2 };
const fileAttr = (ino: number, mode = 0o100644): Attr => ({ mode, nlink: 1, uid: 0, gid: 0, size: 0, ino, atime: t, mtime: t, ctime: t });
const dirAttr = (ino: number): Attr => fileAttr(ino, 0o40755);
const koffiStats = (): { callbacks: number } => (createRequire(import.meta.url)('koffi') as { stats(): { callbacks: number } }).stats();

/** Runs `body` with fusectl mounted at its usual place: mounted for it (and unmounted after) if it is not. */
async function withFusectl<T>(body: (connections: string) => Promise<T>): Promise<T> {
  const connections = '/sys/fs/fuse/connections';
  const mounted = (await run('mountpoint', ['-q', connections])).code === 0;
  if (!mounted) {
    const r = await run('mount', ['-t', 'fusectl', 'fusectl', connections]);
    assert.equal(r.code, 0, `mount -t fusectl: ${r.stderr}`);
  }
  try {
    return await body(connections);
  } finally {
    if (!mounted) await run('umount', [connections]);
  }
}

describe('the libfuse3 node table', () => {
  it('hands out one node per path, counts lookups and drops forgotten nodes', () => {
    const nodes = new NodeTable(true);
    const a = nodes.remember(nodes.root, 'a', dirAttr(10));
    assert.equal(nodes.remember(nodes.root, 'a', dirAttr(10)), a);
    assert.equal(a.lookups, 2);
    const f = nodes.remember(a, 'f', fileAttr(11));
    assert.equal(f.path, '/a/f');
    nodes.forget(a.id, 2);
    assert.equal(nodes.get(a.id), a, 'a parent stays while a child needs its path');
    nodes.forget(f.id, 1);
    assert.equal(nodes.get(f.id), undefined);
    assert.equal(nodes.get(a.id), undefined);
    assert.equal(nodes.size, 1);
  });

  it('moves whole subtrees on rename and orphans what a rename, unlink or rmdir replaced', () => {
    const nodes = new NodeTable(true);
    const a = nodes.remember(nodes.root, 'a', dirAttr(10));
    const b = nodes.remember(a, 'b', dirAttr(11));
    const f = nodes.remember(b, 'f', fileAttr(12));
    const target = nodes.remember(nodes.root, 'z', dirAttr(13));
    nodes.renamed(nodes.root, 'a', nodes.root, 'z', 0);
    assert.equal(f.path, '/z/b/f');
    assert.equal(nodes.child(nodes.root, 'z'), a);
    assert.equal(target.orphan, true);
    nodes.removed(b, 'f');
    assert.equal(f.orphan, true);
    assert.equal(nodes.child(b, 'f'), undefined);
    const x = nodes.remember(nodes.root, 'x', fileAttr(20));
    const y = nodes.remember(nodes.root, 'y', fileAttr(21));
    nodes.renamed(nodes.root, 'x', nodes.root, 'y', 2); // RENAME_EXCHANGE
    assert.deepEqual([x.path, y.path], ['/y', '/x']);
  });

  it('treats another file at a known path as another node', () => {
    const nodes = new NodeTable(true);
    const old = nodes.remember(nodes.root, 'n', fileAttr(30));
    assert.notEqual(nodes.remember(nodes.root, 'n', fileAttr(31)), old, 'another inode');
    const again = nodes.remember(nodes.root, 'n', fileAttr(31));
    assert.notEqual(nodes.remember(nodes.root, 'n', dirAttr(31)), again, 'another type');
    assert.equal(old.orphan, true);
  });

  it('keeps the handles of an open orphan, so it can still be stat\'ed', () => {
    const nodes = new NodeTable(false);
    const f = nodes.remember(nodes.root, 'f', fileAttr(1));
    nodes.addHandle(f, 7);
    nodes.removed(nodes.root, 'f');
    assert.equal(nodes.anyHandle(f), 7);
    nodes.removeHandle(f, 7);
    assert.equal(nodes.anyHandle(f), undefined);
  });
});

describe('the libfuse3 dirent encoder', () => {
  it('writes fuse_dirent records padded to 8 bytes, and stops when full', () => {
    const w = new DirentWriter();
    w.reset(100);
    assert.equal(w.add('.', 1, 4, 1), true);
    assert.equal(w.add('abcdefghij', 0xffffffff, 8, 2), true);
    assert.equal(w.add('x', 3, 8, 3), false, '32 + 40 + 32 bytes do not fit in 100');
    const b = w.bytes();
    assert.equal(b.length, 32 + 40);
    assert.equal(b.readBigUInt64LE(0), 1n);
    assert.equal(b.readBigUInt64LE(8), 1n);
    assert.equal(b.readUInt32LE(16), 1);
    assert.equal(b.readUInt32LE(20), 4);
    assert.equal(b.toString('utf8', 24, 25), '.');
    assert.equal(b.readBigUInt64LE(32), 0xffffffffn);
    assert.equal(b.toString('utf8', 56, 66), 'abcdefghij');
  });

  it('writes fuse_direntplus records with the entry attributes', () => {
    const w = new DirentWriter({ entry: 1.5, attr: 0 });
    w.reset(4096);
    const attr = { ...fileAttr(99), size: 5, atime: { sec: -1, nsec: 7 } };
    w.addPlus('f', 99, 8, 3, { nodeid: 42, ino: 99, attr });
    const b = w.bytes();
    assert.equal(b.length, 128 + 32);
    assert.equal(b.readBigUInt64LE(0), 42n, 'nodeid');
    assert.equal(b.readBigUInt64LE(16), 1n, 'entry_valid');
    assert.equal(b.readUInt32LE(32), 500_000_000, 'entry_valid_nsec');
    assert.equal(b.readBigUInt64LE(40), 99n, 'attr.ino');
    assert.equal(b.readBigUInt64LE(48), 5n, 'attr.size');
    assert.equal(b.readBigInt64LE(64), -1n, 'attr.atime');
    assert.equal(b.readUInt32LE(88), 7, 'attr.atimensec');
    assert.equal(b.readUInt32LE(100), 0o100644, 'attr.mode');
    assert.equal(b.readBigUInt64LE(128 + 8), 3n, 'dirent.off');
  });
});

describe('the libfuse3 engine', () => {
  it('passes libfuse only the mount options it handles', () => {
    const args = sessionArguments({
      filesystem: new MemoryFs(), mountpoint: '/m', fsname: 'src', subtype: 'kmx-x', log: () => undefined,
      options: { allowOther: true, defaultPermissions: true, readOnly: true, autoUnmount: true, maxRead: 65536, attrTimeout: 0, writebackCache: true },
    });
    assert.deepEqual(args, ['kmx', '-o', 'fsname=src,subtype=kmx-x,allow_other,default_permissions,ro,auto_unmount,max_read=65536']);
  });

  it('lists 2,001 entries completely, with READDIRPLUS sparing a LOOKUP per entry', () => {
    const fs = new MemoryFs();
    fs.dirs.set('/d', 0o40755);
    for (let i = 0; i <= 2000; i++) fs.files.set(`/d/file-${i}-${'x'.repeat(i % 50)}`, { data: Buffer.alloc(i), mode: 0o100644 });
    return withMemoryMount(fs, { attrTimeout: 60, entryTimeout: 60 }, async (mnt) => {
      const r = await sh(`ls -f '${mnt}/d' | wc -l; find '${mnt}/d' -type f | wc -l; ls -l '${mnt}/d' | wc -l; find '${mnt}/d' -type f -size +1999c`);
      assert.deepEqual(r.stdout.trim().split('\n'), ['2003', '2001', '2002', `${mnt}/d/file-2000-${'x'.repeat(0)}`]);
      assert.ok((fs.calls.get('getattr') ?? 0) < 10, `getattr called ${fs.calls.get('getattr')} times`);
    });
  });

  it('answers operations that settle later, many at a time, with the right data', () => {
    const fs = new MemoryFs();
    fs.delayMs = 5;
    for (let i = 0; i < 8; i++) fs.files.set(`/f${i}`, { data: Buffer.alloc(0), mode: 0o100644 });
    return withMemoryMount(fs, { attrTimeout: 0, entryTimeout: 0, directIo: true }, async (mnt) => {
      const r = await sh(`head -c 2097152 /dev/urandom > /tmp/kmx-engine-rand.$$ && for i in 0 1 2 3 4 5 6 7; do
          (dd if=/tmp/kmx-engine-rand.$$ of='${mnt}'/f$i bs=64k status=none && sha256sum < '${mnt}'/f$i) & done; wait;
        sha256sum < /tmp/kmx-engine-rand.$$; rm /tmp/kmx-engine-rand.$$`);
      assert.equal(r.code, 0, r.stderr);
      const sums = r.stdout.trim().split('\n');
      assert.equal(sums.length, 9);
      assert.equal(new Set(sums).size, 1, 'every file reads back as written');
    });
  });

  it('writes 1 MiB per request, and coalesces small writes with the writeback cache', async () => {
    const direct = new MemoryFs();
    await withMemoryMount(direct, {}, async (mnt) => {
      const r = await sh(`dd if=/dev/zero of='${mnt}/big' bs=4M count=4 status=none`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(Math.max(...direct.writeSizes), 1024 * 1024);
    });
    const cached = new MemoryFs();
    await withMemoryMount(cached, { writebackCache: true }, async (mnt) => {
      const r = await run('/usr/bin/python3', ['-c', `import os
fd = os.open("${mnt}/log", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
for i in range(1000): os.write(fd, b"%05d\\n" % i)
os.close(fd)
print(open("${mnt}/log").read().count("\\n"))`]);
      assert.equal(r.stdout.trim(), '1000', r.stderr);
      assert.ok(cached.writeSizes.length < 100, `${cached.writeSizes.length} write requests for 1000 writes`);
      assert.equal(cached.files.get('/log')?.data.length, 6000);
      const [flags] = cached.openFlags;
      assert.equal((flags ?? 0) & 3, 2, 'O_WRONLY became O_RDWR (the kernel reads partial pages)');
      assert.equal((flags ?? 0) & 0o2000, 0, 'O_APPEND is the kernel\'s business');
    });
  });

  it('applies the mount options: read-only, max_read, background limits, a wider readahead', async () => {
    const fs = new MemoryFs();
    fs.files.set('/f', { data: Buffer.from('x'), mode: 0o100644 });
    const options = { readOnly: true, maxRead: 65536, maxBackground: 32, congestionThreshold: 24, defaultPermissions: true };
    await withMemoryMount(fs, options, async (mnt, mount) => {
      const minor = mount.device.split(':')[1];
      const r = await sh(`grep ' ${mnt} ' /proc/self/mountinfo; cat /sys/class/bdi/${mount.device}/read_ahead_kb; echo y > '${mnt}/f'`);
      const [line, readahead] = r.stdout.trim().split('\n');
      assert.match(line ?? '', / ro,.*default_permissions.*max_read=65536/);
      assert.equal(readahead, '128', 'max_read below the kernel\'s default window keeps the default');
      assert.match(r.stderr, /Read-only file system/);
      // The connection's limits are read back through fusectl, mounted for the test where the host has not.
      const limits = await withFusectl((connections) => sh(`cat ${connections}/${minor}/max_background ${connections}/${minor}/congestion_threshold`));
      assert.equal(limits.code, 0, limits.stderr);
      assert.deepEqual(limits.stdout.trim().split('\n'), ['32', '24']);
    });
    await withMemoryMount(new MemoryFs(), {}, async (_mnt, mount) => {
      const r = await sh(`cat /sys/class/bdi/${mount.device}/read_ahead_kb`);
      assert.equal(r.stdout.trim(), '1024', 'buffered reads come 1 MiB at a time');
    });
  });

  it('answers EIO for an operation that throws without an errno, logs it, and keeps serving', () => {
    const fs = new MemoryFs();
    fs.files.set('/ok', { data: Buffer.from('fine\n'), mode: 0o100644 });
    return withMemoryMount(fs, {}, async (mnt, _mount, log) => {
      const r = await sh(`stat '${mnt}/boom'; cat '${mnt}/ok'`);
      assert.match(r.stderr, /Input\/output error/);
      assert.equal(r.stdout, 'fine\n');
      assert.ok(log.some((line) => /a bug in the filesystem/.test(line)), log.join('\n'));
    });
  });

  it('ends the session however it was unmounted, and gives back its callbacks', async () => {
    const baseline = koffiStats().callbacks;
    for (let i = 0; i < 5; i++) {
      const fs = new MemoryFs();
      await withMemoryMount(fs, {}, async (mnt, mount) => {
        const r = await sh(`ls '${mnt}' && umount '${mnt}'`);
        assert.equal(r.code, 0, r.stderr);
        await mount.ended;
        assert.equal(fs.destroyed, true);
      });
    }
    assert.equal(koffiStats().callbacks, baseline);
  });
});
