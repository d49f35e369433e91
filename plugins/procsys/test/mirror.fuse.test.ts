import assert from 'node:assert/strict';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sh, withTestMount } from '@kmx/core/testing';

const mountArgs = (extra: string[] = []) => ({ args: ({ mnt }: { mnt: string }) => ['procsys', 'mount', ...extra, mnt] });

/** Files whose contents do not change from one read to the next on an idle system. */
const STABLE_FILES = ['version', 'cmdline', 'filesystems', 'devices', 'execdomains', 'misc', 'swaps', 'sys/kernel/ostype', 'sys/kernel/osrelease', 'sys/kernel/hostname', 'sys/kernel/pid_max', 'sys/fs/nr_open', 'sys/net/core/somaxconn', 'sys/vm/overcommit_memory'];

describe('kmx procsys mount: one host', () => {
  it('shows what /proc shows: names, modes, owners, link targets, contents', () => withTestMount(mountArgs(), async ({ mnt }) => {
    for (const file of STABLE_FILES) assert.equal(await readFile(join(mnt, file), 'utf8'), await readFile(join('/proc', file), 'utf8'), file);
    // 0-size files read whole (direct_io), and cpuinfo line by line but its clock.
    assert.equal((await stat(join(mnt, 'meminfo'))).size, 0);
    assert.match(await readFile(join(mnt, 'meminfo'), 'utf8'), /^MemTotal:\s+\d+ kB$/m);
    const noClock = (t: string): string => t.replace(/^cpu MHz.*$/gm, '').replace(/^bogomips.*$/gm, '');
    assert.equal(noClock(await readFile(join(mnt, 'cpuinfo'), 'utf8')), noClock(await readFile('/proc/cpuinfo', 'utf8')));

    // Top-level names, modes and owners, and the pid directories of processes that stay.
    const names = (list: string[]): string[] => list.filter((n) => !/^\d+$/.test(n)).sort();
    assert.deepEqual(names(await readdir(mnt)), names(await readdir('/proc')));
    assert.ok((await readdir(mnt)).includes(String(process.pid)));
    for (const name of names(await readdir('/proc'))) {
      const [a, b] = await Promise.all([lstat(join(mnt, name)), lstat(join('/proc', name))]);
      assert.deepEqual([a.mode, a.uid, a.gid, a.ino], [b.mode, b.uid, b.gid, b.ino], name);
    }
    const mine = join(mnt, String(process.pid));
    const real = `/proc/${process.pid}`;
    assert.deepEqual((await readdir(mine)).sort(), (await readdir(real)).sort());
    for (const name of await readdir(real)) {
      const [a, b] = await Promise.all([lstat(join(mine, name)), lstat(join(real, name))]);
      assert.deepEqual([a.mode, a.uid, a.gid], [b.mode, b.uid, b.gid], name);
    }
    for (const link of ['cwd', 'exe', 'root', 'fd/0', 'fd/1', 'fd/2', 'ns/net', 'ns/mnt']) {
      assert.equal(await readlink(join(mine, link)), await readlink(join(real, link)), link);
    }
    for (const file of ['cmdline', 'comm', 'environ', 'limits', 'cgroup', 'loginuid']) {
      assert.deepEqual(await readFile(join(mine, file)), await readFile(join(real, file)), file);
    }
    assert.equal(await readlink(join(mnt, 'mounts')), 'self/mounts');
    assert.equal(await readlink(join(mnt, 'net')), 'self/net');
  }));

  it('resolves self, thread-self and net for the process that reads them, not for the server', () => withTestMount(mountArgs(), async ({ mnt, server }) => {
    // exec keeps the shell's pid: what the reader gets is its own pid, never the server's.
    const self = await sh(`echo $$; exec readlink '${mnt}/self'`);
    const [shell, viaReadlink] = self.stdout.trim().split('\n');
    assert.equal(viaReadlink, shell);
    assert.notEqual(viaReadlink, String(server.pid));
    const stat = await sh(`echo $$; exec cut -d' ' -f1 '${mnt}/self/stat'`);
    const [shell2, viaStat] = stat.stdout.trim().split('\n');
    assert.equal(viaStat, shell2);
    const threads = await sh(`readlink '${mnt}/thread-self'`);
    assert.match(threads.stdout.trim(), /^(\d+)\/task\/\1$/);
    const comm = await sh(`cat '${mnt}/self/comm'`);
    assert.equal(comm.stdout, 'cat\n');
    // net is self/net: a reader in another network namespace sees that namespace's devices.
    const netns = `kmxt-ps${process.pid}`;
    await sh(`ip netns add ${netns}`);
    try {
      const inside = await sh(`ip netns exec ${netns} cat '${mnt}/net/dev'`);
      assert.equal(inside.code, 0, inside.stderr);
      assert.deepEqual(inside.stdout.split('\n').slice(2).filter(Boolean).map((l) => l.split(':')[0]!.trim()), ['lo']);
      // Outside it, this host's devices: other tests add and remove theirs meanwhile, so those
      // there both before and after must show, and nothing there neither time.
      const devices = (text: string): string[] => text.split('\n').slice(2).filter(Boolean).map((l) => l.split(':')[0]!.trim());
      const before = devices(await readFile('/proc/net/dev', 'utf8'));
      const outside = devices(await readFile(join(mnt, 'net/dev'), 'utf8'));
      const after = devices(await readFile('/proc/net/dev', 'utf8'));
      assert.deepEqual(before.filter((d) => after.includes(d) && !outside.includes(d)), [], 'devices missing from the mirror');
      assert.deepEqual(outside.filter((d) => !before.includes(d) && !after.includes(d)), [], 'devices this host does not have');
      assert.ok(outside.includes('lo'));
    } finally {
      await sh(`ip netns del ${netns}`);
    }
  }));

  it('refuses writes unless --writable, then passes them through to /proc/sys', async () => {
    const file = 'sys/kernel/printk_ratelimit_burst';
    const before = (await readFile(join('/proc', file), 'utf8')).trim();
    await withTestMount(mountArgs(), async ({ mnt }) => {
      const r = await sh(`echo 99 > '${mnt}/${file}'`);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Read-only file system/);
    });
    await withTestMount(mountArgs(['--writable']), async ({ mnt }) => {
      try {
        const r = await sh(`echo ${Number(before) + 1} > '${mnt}/${file}'`);
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await readFile(join('/proc', file), 'utf8')).trim(), String(Number(before) + 1));
      } finally {
        await sh(`echo ${before} > /proc/${file}`);
      }
    });
  });

  it('lists and stats without reading any file (ls -l, find -maxdepth 3)', () => {
    const fixture = fileURLToPath(new URL('./fixtures/counting-mirror.js', import.meta.url));
    return withTestMount({ program: fixture, args: ({ dir, mnt }) => [mnt, join(dir, 'counts.json')] }, async ({ dir, mnt, stop }) => {
      // A process may exit between the listing and ls's stat of it (as with /proc itself): ignore ls's complaints.
      const listing = await sh(`ls -l '${mnt}' '${mnt}/self/' '${mnt}/sys/kernel' > /dev/null 2>&1; find '${mnt}' -maxdepth 3 2>/dev/null | wc -l`);
      assert.ok(Number(listing.stdout.trim()) > 1000, listing.stderr);
      const lsl = await sh(`ls -ln '${mnt}/sys/kernel' | awk '{print $1, $3, $4, $9}'`);
      const direct = await sh(`ls -ln /proc/sys/kernel | awk '{print $1, $3, $4, $9}'`);
      assert.equal(lsl.stdout, direct.stdout);
      await stop();
      const counts = JSON.parse(await readFile(join(dir, 'counts.json'), 'utf8')) as { opened: string[]; reads: number };
      assert.deepEqual(counts, { opened: [], reads: 0 });
    });
  });
});
