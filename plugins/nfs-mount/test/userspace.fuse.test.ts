import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { python, sh, withTestMount, type TestMount } from '@kmx/core/testing';
import type { Ganesha } from '../src/lib/peer/ganesha.js';
import { userspaceArgs, withGanesha } from './harness.js';

/** kmx nfs --userspace against nfs-ganesha on loopback: libnfs through FUSE, NFSv3 and v4.0. */

for (const version of ['3', '4'] as const) {
  describe(`user-space NFS, v${version === '4' ? '4.0' : '3'}`, () => {
    /** `body` with ganesha serving and kmx mounting its export in user space. */
    const mounted = (body: (g: Ganesha, m: TestMount) => Promise<void>, extra: string[] = []): Promise<void> =>
      withGanesha((g) => withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version, extra) }, (m) => body(g, m)));

    it('reads, writes, creates, renames, unlinks, makes dirs and moves a large file', () => mounted(async (g, m) => {
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
    }));

    it("changes an open file's attributes, and never a symlink's target (nor links it)", () => mounted(async (g, m) => {
      // tar's order: write, chown, chmod, touch while open, then the next file; and a second
      // open of the file beside the first (truncate, cat). On v4, libnfs 4.0's own OPEN for a
      // change, or a second OPEN, broke every later OPEN of the session (ERANGE).
      const open = await sh(`cd '${m.mnt}' && exec 3>a && printf x >&3 && chown 0:0 a && chmod 640 a && printf y >&3 && truncate -s 3 a && cat a && touch -c -d @946684800 a && exec 3>&- && echo z > b && cat b && stat -c '%a %Y' a`);
      assert.equal(open.code, 0, open.stderr);
      assert.equal(open.stdout, 'xy\0z\n640 946684800\n');
      // One file open through two hard links at once (diff -r, tar c), then the next file.
      const linked = await sh(`cd '${m.mnt}' && ln b b2 && exec 5<b 6<b2 && cat <&5 && cat <&6 && exec 5<&- 6<&- && echo w > w && cat w && rm b2 w`);
      assert.equal(linked.stdout, 'z\nz\nw\n', linked.stderr);
      // A symlink's times are the link's, never its target's; a directory's mode changes (on v4
      // by a SETATTR of kmx's own: libnfs 4.0 would follow the link, and open the directory).
      const link = await sh(`cd '${m.mnt}' && touch -d @1000000000 b && ln -s b link && touch -h -d @978307200 link; echo $?; stat -c %Y b; mkdir d && chmod 711 d; echo $?`);
      const [touched, target, chmodded] = link.stdout.trim().split('\n');
      // Link targets read back whole (libnfs 4.0 gives v4's without a NUL after them).
      const targets = Array.from({ length: 60 }, (_, i) => `t${i}-${'x'.repeat(i)}`);
      targets.forEach((t, i) => symlinkSync(t, join(g.exportDir, `l${i}`)));
      const read = await sh(`cd '${m.mnt}' && for i in $(seq 0 59); do readlink l$i; done`);
      assert.equal(read.stdout, targets.map((t) => `${t}\n`).join(''), read.stderr);
      assert.equal(target, '1000000000', 'the target of the link changed');
      // (ganesha answers a symlink's times with success and keeps them as they were.)
      assert.deepEqual([touched, chmodded, statSync(join(g.exportDir, 'd')).mode & 0o777], ['0', '0', 0o711], link.stderr);
      // A hard link of a symlink: libnfs would link the file it points to instead, so it is refused.
      const hard = await sh(`cd '${m.mnt}' && ln link hard; echo $?; ls hard 2>&1; stat -c %h b`);
      assert.match(hard.stderr, /failed to create hard link 'hard' => 'link': Operation not supported/);
      assert.match(hard.stdout, /^1\n.*No such file or directory\n1\n$/);
    }));

    it('lands writes behind before a change, a read or a write over the same bytes, through any descriptor (cp -p, ftruncate beside a writer)', () => mounted(async (g, m) => {
      // ganesha serves requests on several threads: a change sent while writes are in flight
      // may be carried out before them (cp -p sets the times on the still-open copy).
      const mib = version === '3' ? 8 : 1; // libnfs 4.0 writes NFSv4 in 2 KiB calls
      const r = await python([
        'import os',
        `m, s = '${m.mnt}', '${g.exportDir}'`,
        'late = 0',
        'for i in range(3):',
        "    f = os.open(f'{m}/p{i}', os.O_WRONLY | os.O_CREAT, 0o644)",
        `    for k in range(${mib}): os.write(f, os.urandom(1 << 20))`,
        '    os.utime(f, (1_000_000_000, 1_000_000_000))',
        '    os.close(f)',
        "    late += os.stat(f'{s}/p{i}').st_mtime != 1_000_000_000",
        'print(late)',
        "fd = os.open(f'{m}/t', os.O_RDWR | os.O_CREAT, 0o644)",
        "fd2 = os.open(f'{m}/t', os.O_RDWR)",
        'os.pwrite(fd, os.urandom(600_000), 0)',
        'os.fsync(fd)',
        'os.ftruncate(fd, 1_031_337)',
        'os.pwrite(fd2, os.urandom(29_086), 1_019_490)',
        'os.ftruncate(fd, 591_635)',
        "print(os.fstat(fd).st_size, os.stat(f'{s}/t').st_size, len(os.pread(fd2, 65_289, 558_483)))",
        'os.close(fd)',
        'os.close(fd2)',
        // Writes over bytes still being written, through another descriptor and the same one.
        'wrong = 0',
        'for i in range(5):',
        '    a, b = os.urandom(256 << 10), os.urandom(64 << 10)',
        "    fd = os.open(f'{m}/o{i}', os.O_RDWR | os.O_CREAT, 0o644)",
        "    fd2 = os.open(f'{m}/o{i}', os.O_RDWR)",
        '    os.pwrite(fd, a, 0)',
        '    os.pwrite(fd2, b, 100_000)',
        '    os.pwrite(fd, b[:4096], 200_000)',
        '    os.close(fd)',
        '    os.close(fd2)',
        '    want = bytearray(a)',
        '    want[100_000:100_000 + len(b)] = b',
        '    want[200_000:204_096] = b[:4096]',
        "    wrong += open(f'{s}/o{i}', 'rb').read() != bytes(want)",
        'print(wrong)',
      ], { timeoutMs: 120_000 });
      assert.equal(r.stdout, '0\n591635 591635 33152\n0\n', r.stderr);
    }));

    it('keeps a file unlinked, replaced or moved while open usable through its descriptor (hidden as .nfs*)', () => mounted(async (g, m) => {
      const r = await python([
        'import os',
        `m = '${m.mnt}'`,
        "fd = os.open(f'{m}/tmp', os.O_RDWR | os.O_CREAT, 0o600)",
        "os.write(fd, b'hello ' * 1000)",
        "os.unlink(f'{m}/tmp')",
        "os.pwrite(fd, b'world', 6000)",
        "print(os.pread(fd, 5, 6000).decode(), os.fstat(fd).st_size, os.path.exists(f'{m}/tmp'))",
        "open(f'{m}/tmp', 'w').write('new')", // another file under the old name
        "print(os.fstat(fd).st_size, os.stat(f'{m}/tmp').st_size)",
        'os.close(fd)',
        "open(f'{m}/old', 'w').write('old contents')",
        "fd = os.open(f'{m}/old', os.O_RDONLY)",
        "os.rename(f'{m}/tmp', f'{m}/old')", // replaces the open file
        "print(os.pread(fd, 100, 0).decode(), os.fstat(fd).st_size, open(f'{m}/old').read())",
        'os.close(fd)',
        "os.makedirs(f'{m}/d/e')",
        "fd = os.open(f'{m}/d/e/f', os.O_WRONLY | os.O_CREAT, 0o644)",
        "os.write(fd, b'x' * 100)",
        "os.rename(f'{m}/d', f'{m}/moved')", // its directory moves while writes are behind
        "os.write(fd, b'y' * 100)",
        "print(os.stat(f'{m}/moved/e/f').st_size)",
        'os.close(fd)',
        // Closed, then unlinked at once (FUSE's RELEASE comes after close returns): not hidden,
        // so its directory can go right after.
        'busy = 0',
        'for i in range(50):',
        "    os.mkdir(f'{m}/r')",
        "    with open(f'{m}/r/f', 'ab') as f: f.write(b'x' * 100)",
        "    os.unlink(f'{m}/r/f')",
        '    try:',
        "        os.rmdir(f'{m}/r')",
        '    except OSError:',
        '        busy += 1',
        '        break',
        'print(busy)',
      ]);
      assert.equal(r.stdout, 'world 6005 False\n6005 3\nold contents 12 new\n200\n0\n', r.stderr);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the last close (FUSE's RELEASE) removes the hidden files
      assert.deepEqual(readdirSync(g.exportDir).sort(), ['moved', 'old']);
    }));

    it('lists what files are now: a listing after a chmod or a rewrite of a file in it', () => mounted(async (g, m) => {
      // libnfs's own cache of listings kept a file's old mode and size (its directory's mtime
      // had not changed); the kernel took them from the next READDIRPLUS and read only up to
      // the old size.
      const r = await python([
        'import os',
        `d = '${m.mnt}/sub'`,
        'os.mkdir(d)',
        'def walk():',
        "    return {n: (oct(os.lstat(f'{d}/{n}').st_mode & 0o777), os.lstat(f'{d}/{n}').st_size, len(open(f'{d}/{n}', 'rb').read())) for n in sorted(os.listdir(d))}",
        "open(f'{d}/a', 'wb').write(os.urandom(1478))",
        "open(f'{d}/b', 'wb').write(os.urandom(1093))",
        'walk()',
        "os.chmod(f'{d}/a', 0o755)",
        "open(f'{d}/b', 'wb').write(os.urandom(1264))",
        'print(walk())',
      ]);
      assert.equal(r.stdout, "{'a': ('0o755', 1478, 1478), 'b': ('0o644', 1264, 1264)}\n", r.stderr);
    }));

    it('fails a read with EIO, without hanging, when the server stops mid-read', () => mounted(async (g, m) => {
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
    }, ['--timeout', '2']));
  });
}
