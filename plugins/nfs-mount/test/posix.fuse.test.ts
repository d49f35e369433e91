import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { python, run, withTestMount, withTestUsers, type RunResult, type TestUser } from '@kmx/core/testing';
import { userspaceArgs, withGanesha } from './harness.js';

/**
 * kmx nfs --userspace against POSIX, on NFSv3 and v4.0: refused requests leave the mount
 * working, a shared mount acts as each caller, and names, links and symlinks are what the
 * server has.
 */

/** A Python script run as `user` (setpriv, with the user's groups), from its standard input. */
function pythonAs(user: TestUser, lines: readonly string[]): Promise<RunResult> {
  return run('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '/usr/bin/python3', '-'], { cwd: '/', input: `${lines.join('\n')}\n`, timeoutMs: 120_000 });
}

/** Lines of Python: `refused(tag, fn)` prints the errno name fn() fails with (or OK), then checks that ordinary work goes on. */
const REFUSALS = [
  'import errno, os',
  'def work(tag):',
  // Ordinary work: read a file, open one for writing, create another and read it back (over 2 KiB: several NFSv4 WRITEs).
  "    assert open(f'{m}/kept', 'rb').read() == b'kept', 'kept'",
  "    open(f'{m}/kept', 'ab').close()",
  "    data = os.urandom(5000)",
  "    with open(f'{m}/new-{tag}', 'wb') as f: f.write(data)",
  "    assert open(f'{m}/new-{tag}', 'rb').read() == data, 'new'",
  'def refused(tag, fn):',
  '    try:',
  '        fn()',
  "        outcome = 'OK'",
  '    except OSError as e:',
  '        outcome = errno.errorcode[e.errno]',
  '    try:',
  '        work(tag)',
  "        print(tag, outcome, 'then work')",
  '    except OSError as e:',
  "        print(tag, outcome, 'then', errno.errorcode[e.errno])",
];

for (const version of ['3', '4'] as const) {
  const v = version === '4' ? 'v4.0' : 'v3';

  describe(`user-space NFS ${v}: POSIX`, () => {
    it('a refused request leaves the mount working: too large, not permitted, no longer on the server', () => withTestUsers(2, ([alice, bob]) => withGanesha(async (g, gdir) => {
      chmodSync(gdir, 0o755); // alice removes a file on the server side, beside the mount
      const shared = join(g.exportDir, 'shared');
      mkdirSync(shared, { mode: 0o1777 });
      chmodSync(shared, 0o1777);
      // bob's files: one alice may not read, one she may write but does not own; his directory she may not write.
      writeFileSync(join(shared, 'bob-secret'), 'secret', { mode: 0o600 });
      writeFileSync(join(shared, 'bob-writable'), 'w', { mode: 0o666 });
      chmodSync(join(shared, 'bob-writable'), 0o666);
      mkdirSync(join(shared, 'bob-dir'), { mode: 0o755 });
      for (const name of ['bob-secret', 'bob-writable', 'bob-dir']) await run('chown', [`${bob.uid}:${bob.gid}`, join(shared, name)]);
      await withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version, ['-o', 'allow_other']) }, async (mount) => {
        chmodSync(mount.dir, 0o755);
        const r = await pythonAs(alice, [
          `m, srv = '${mount.mnt}/shared', '${shared}'`,
          ...REFUSALS,
          "open(f'{m}/kept', 'wb').write(b'kept')",
          "open(f'{m}/big', 'wb').write(b'b')",
          // A file held open: the server keeps the open-owner's sequence (and would hold it against a client out of step).
          "held = open(f'{m}/kept', 'rb')",
          "refused('truncate-by-path', lambda: os.truncate(f'{m}/big', 1 << 50))",
          'def ftruncate():',
          "    fd = os.open(f'{m}/big', os.O_RDWR)",
          '    try: os.ftruncate(fd, 1 << 50)',
          '    finally: os.close(fd)',
          "refused('ftruncate', ftruncate)",
          'def far_write():',
          "    fd = os.open(f'{m}/big', os.O_WRONLY)",
          '    try:',
          "        os.pwrite(fd, b'x', 1 << 50)", // answered at once (written behind): refused at fsync
          '        os.fsync(fd)',
          '    finally:',
          '        try: os.close(fd)',
          '        except OSError: pass',
          "refused('pwrite', far_write)",
          "refused('open-not-permitted', lambda: open(f'{m}/bob-secret', 'rb'))",
          "refused('create-not-permitted', lambda: open(f'{m}/bob-dir/f', 'wb'))",
          "refused('chmod-not-owner', lambda: os.chmod(f'{m}/bob-writable', 0o600))",
          "refused('utime-not-owner', lambda: os.utime(f'{m}/bob-writable', (1, 1)))",
          "refused('touch-writable', lambda: os.utime(f'{m}/bob-writable'))", // now: write access is enough
          "open(f'{m}/mine', 'wb').write(b'r')",
          "os.chmod(f'{m}/mine', 0o444)",
          "refused('chmod-own-read-only', lambda: os.chmod(f'{m}/mine', 0o644))",
          // Removed on the server while open here: what it answers, then ordinary work.
          'def stale():',
          "    fd = os.open(f'{m}/doomed', os.O_RDWR | os.O_CREAT, 0o644)",
          "    os.write(fd, b'd' * 100)",
          '    os.fsync(fd)',
          "    os.unlink(f'{srv}/doomed')",
          '    try:',
          '        os.pread(fd, 100, 0)',
          '    finally:',
          '        os.close(fd)',
          "refused('removed-on-server', stale)",
          'held.close()',
        ]);
        assert.equal(r.code, 0, r.stderr);
        const outcomes = Object.fromEntries(r.stdout.trim().split('\n').map((line) => {
          const [tag, ...rest] = line.split(' ');
          return [tag, rest.join(' ')];
        }));
        assert.deepEqual(outcomes, {
          'truncate-by-path': 'EFBIG then work',
          ftruncate: 'EFBIG then work',
          pwrite: 'EFBIG then work',
          'open-not-permitted': 'EACCES then work',
          'create-not-permitted': 'EACCES then work',
          'chmod-not-owner': 'EPERM then work',
          'utime-not-owner': 'EPERM then work',
          'touch-writable': 'OK then work',
          'chmod-own-read-only': 'OK then work',
          // ganesha keeps a file it has open: reading one removed beside it may still work; either way, work goes on.
          'removed-on-server': outcomes['removed-on-server']?.startsWith('ESTALE') ? 'ESTALE then work' : 'OK then work',
        }, r.stdout);
        assert.equal(statSync(join(shared, 'mine')).mode & 0o777, 0o644);
        assert.equal(statSync(join(shared, 'bob-writable')).mode & 0o777, 0o666);
      });
    }, { v3: version === '3' })));

    if (version === '4') {
      it('a client whose lease the server let expire (libnfs 4.0 never renews it) starts afresh: its open file goes on working', () => withGanesha((g) => withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version) }, async ({ mnt, output }) => {
        const r = await python([
          'import os, time',
          `f = '${mnt}/held'`,
          "open(f, 'w').write('hello')",
          'fd = os.open(f, os.O_RDWR)',
          'os.pread(fd, 5, 0)',
          'time.sleep(12)', // lease 5 s: the server expires the client and drops its state
          'os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)', // read from the server, not the page cache
          "print(os.pread(fd, 5, 0), os.pwrite(fd, b'HELLO', 0))",
          'os.fsync(fd)',
          'os.close(fd)',
          "print(open(f).read())",
        ], { timeoutMs: 60_000 });
        assert.equal(r.stdout, "b'hello' 5\nHELLO\n", r.stderr);
        assert.match(output(), /NFS4ERR_EXPIRED\): starting a fresh NFSv4 client/);
      }), { v3: false, leaseSeconds: 5 }));
    }

    it('a shared mount (allow_other) acts as each caller: owners, permissions and groups are the server\'s to check', () => withTestUsers(2, async ([alice, bob]) => {
      const group = `kmxg${process.pid}${version}`;
      assert.equal((await run('groupadd', [group])).code, 0);
      try {
        assert.equal((await run('usermod', ['-aG', group, bob.name])).code, 0);
        const gid = Number((await run('getent', ['group', group])).stdout.split(':')[2]);
        await withGanesha(async (g) => {
          const shared = join(g.exportDir, 'shared');
          mkdirSync(shared, { mode: 0o1777 });
          chmodSync(shared, 0o1777);
          await withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version, ['-o', 'allow_other']) }, async (mount) => {
            chmodSync(mount.dir, 0o755);
            const m = join(mount.mnt, 'shared');
            const a = await pythonAs(alice, [
              'import os',
              'os.umask(0o022)',
              `m = '${m}'`,
              "open(f'{m}/private', 'w').write('alice only')",
              "os.chmod(f'{m}/private', 0o600)",
              "open(f'{m}/grouped', 'w').write('for the group')",
              "os.mkdir(f'{m}/alice-dir')",
              "os.symlink('private', f'{m}/alice-link')",
              "print(oct(os.stat(f'{m}/private').st_mode & 0o777), os.stat(f'{m}/private').st_uid)",
            ]);
            assert.equal(a.code, 0, a.stderr);
            assert.equal(a.stdout, `0o600 ${alice.uid}\n`);
            await run('chown', [`${alice.uid}:${gid}`, join(shared, 'grouped')]); // alice is not in the group: root gives it
            chmodSync(join(shared, 'grouped'), 0o640);
            const b = await pythonAs(bob, [
              'import errno, os',
              `m = '${m}'`,
              'def attempt(tag, fn):',
              '    try:',
              '        fn()',
              "        print(tag, 'OK')",
              '    except OSError as e:',
              '        print(tag, errno.errorcode[e.errno])',
              "attempt('read-private', lambda: open(f'{m}/private').read())",
              "attempt('write-private', lambda: open(f'{m}/private', 'a'))",
              "attempt('read-grouped', lambda: open(f'{m}/grouped').read())", // through his supplementary group
              "attempt('create-in-alice-dir', lambda: open(f'{m}/alice-dir/x', 'w'))",
              "attempt('remove-alice-file', lambda: os.unlink(f'{m}/private'))", // sticky directory
              "attempt('chown-to-bob', lambda: os.chown(f'{m}/grouped', " + String(bob.uid) + ', -1))',
              "open(f'{m}/bobs', 'w').write('bob')",
              "os.mkdir(f'{m}/bob-dir')",
            ]);
            assert.equal(b.code, 0, b.stderr);
            assert.equal(b.stdout, [
              'read-private EACCES', 'write-private EACCES', 'read-grouped OK', 'create-in-alice-dir EACCES', 'remove-alice-file EPERM', 'chown-to-bob EPERM', '',
            ].join('\n'));
            // Created files and directories belong to whoever made them, on the server.
            const owner = (name: string): string => {
              const st = lstatSync(join(shared, name));
              return `${st.uid}:${st.gid}`;
            };
            assert.deepEqual(['private', 'alice-dir', 'alice-link', 'bobs', 'bob-dir'].map(owner), [
              `${alice.uid}:${alice.gid}`, `${alice.uid}:${alice.gid}`, `${alice.uid}:${alice.gid}`, `${bob.uid}:${bob.gid}`, `${bob.uid}:${bob.gid}`,
            ]);
            // The mounting user (root here) is still itself.
            writeFileSync(join(m, 'roots'), 'root');
            assert.equal(owner('roots'), '0:0');
          });
        }, { v3: version === '3' });
      } finally {
        await run('groupdel', [group]);
      }
    }));

    it('names, links, symlinks and special files are what the server has: NAME_MAX, st_ino, st_nlink, PATH_MAX-long targets, FIFOs; a file open write-only and read-write at once', () => withGanesha((g) => withTestMount({ args: ({ mnt }) => userspaceArgs(g, mnt, version) }, async ({ mnt }) => {
      const r = await python([
        'import errno, os',
        `m, srv = '${mnt}', '${g.exportDir}'`,
        "print('name_max', os.pathconf(m, 'PC_NAME_MAX'), os.statvfs(m).f_namemax)",
        "open(os.path.join(m, 'n' * 255), 'w').close()",
        'try:',
        "    open(os.path.join(m, 'n' * 256), 'w')",
        'except OSError as e:',
        "    print('256', errno.errorcode[e.errno])",
        "open(f'{m}/f', 'w').write('linked')",
        "os.link(f'{m}/f', f'{m}/g')",
        "print('link', os.stat(f'{m}/g').st_nlink, os.stat(f'{m}/f').st_ino == os.stat(f'{m}/g').st_ino == os.stat(f'{srv}/f').st_ino)",
        "ino = os.stat(f'{m}/g').st_ino",
        "os.rename(f'{m}/g', f'{m}/h')",
        "print('rename', os.stat(f'{m}/h').st_ino == ino == os.stat(f'{m}/f').st_ino)",
        "os.mkdir(f'{m}/d')",
        "os.mkdir(f'{m}/d/e')",
        "print('listed', sorted((e.name, e.inode() == os.lstat(e.path).st_ino == os.lstat(f'{srv}/' + e.name).st_ino) for e in os.scandir(m) if e.name in ('f', 'h', 'd')))",
        "target = ('x' * 254 + '/') * 17",
        'target = target[:4095]',
        "os.symlink(target, f'{m}/d/e/long')",
        "print('symlink', os.readlink(f'{m}/d/e/long') == target, os.lstat(f'{m}/d/e/long').st_size)",
        'try:',
        "    os.symlink(target + 'y', f'{m}/d/e/longer')",
        'except OSError as e:',
        "    print('4096', errno.errorcode[e.errno])",
        // FIFOs, sockets and device nodes are the server's too.
        'import socket, stat',
        "os.mkfifo(f'{m}/fifo', 0o640)",
        'sock = socket.socket(socket.AF_UNIX)',
        "sock.bind(f'{m}/sock')",
        'sock.close()',
        "os.mknod(f'{m}/null', 0o600 | stat.S_IFCHR, os.makedev(1, 3))",
        "kinds = [stat.filemode(os.lstat(f'{srv}/{n}').st_mode)[0] for n in ('fifo', 'sock', 'null')]",
        "rdev = os.lstat(f'{srv}/null').st_rdev",
        "print('special', ''.join(kinds), oct(os.lstat(f'{srv}/fifo').st_mode & 0o777), os.major(rdev), os.minor(rdev))",
        // One file open write-only, then read-write beside it (NFSv4: one open of it, upgraded).
        "w = os.open(f'{m}/rw', os.O_WRONLY | os.O_CREAT, 0o644)",
        "rw = os.open(f'{m}/rw', os.O_RDWR)",
        "os.write(w, b'ab')",
        "os.pwrite(rw, b'c', 2)",
        'os.fsync(w)',
        "print('rw', os.pread(rw, 10, 0))",
        'os.close(w)',
        'os.close(rw)',
      ]);
      assert.equal(r.stdout, [
        'name_max 255 255', '256 ENAMETOOLONG', 'link 2 True', 'rename True', "listed [('d', True), ('f', True), ('h', True)]", 'symlink True 4095', '4096 ENAMETOOLONG',
        'special psc 0o640 1 3', "rw b'abc'", '',
      ].join('\n'), r.stderr);
      assert.equal(readlinkSync(join(g.exportDir, 'd/e/long')).length, 4095);
      // The other name's link count: the kernel keeps what it had for the attribute timeout (1 s).
      await sleep(1100);
      assert.equal(statSync(join(mnt, 'f')).nlink, 2);
    }), { v3: version === '3' }));
  });
}
