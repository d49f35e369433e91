// kmx sftp mount --via: SFTP straight over OpenSSH's sftp-server's stdin/stdout. What an
// sshfs user expects of the mount, checked against the server's directory.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kmxBin, withTestMount } from '@kmx/core/testing';
import { SFTP_SERVER, shell as sh } from './support.js';

const viaMount = (extra: string[] = [], via = SFTP_SERVER) => ({
  prepare: async ({ dir }: { dir: string }) => {
    await mkdir(join(dir, 'srv'));
  },
  args: ({ dir, mnt }: { dir: string; mnt: string }) => ['sftp', 'mount', '--via', via, ...extra, `local:${dir}/srv`, mnt],
});

const ok = async (script: string): Promise<string> => {
  const r = await sh(script);
  assert.equal(r.code, 0, `${script}\n${r.stderr}`);
  return r.stdout;
};

/** viaMount, serving a 1 MiB tmpfs: a disk that fills (withTestMount unmounts it). */
const smallDiskMount = (extra: string[] = []) => ({
  ...viaMount(extra),
  prepare: async ({ dir }: { dir: string }) => {
    await mkdir(join(dir, 'srv'));
    await ok(`mount -t tmpfs -o size=1m kmxtest '${dir}/srv'`);
  },
});

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Runs a Python script (given as lines) from a file in `dir`; its output. */
const python = async (dir: string, lines: string[]): Promise<string> => {
  await writeFile(join(dir, 'script.py'), lines.join('\n'));
  return ok(`python3 '${dir}/script.py'`);
};

describe('kmx sftp mount --via sftp-server', () => {
  // {host} is replaced (quoted): the command runs only if it got "local".
  it('reads, writes, lists and removes what the server has', () => withTestMount(viaMount([], `test {host} = local && exec ${SFTP_SERVER}`), async ({ dir, mnt }) => {
    const srv = join(dir, 'srv');
    await writeFile(join(srv, 'server.txt'), 'from the server\n');
    assert.equal(await readFile(join(mnt, 'server.txt'), 'utf8'), 'from the server\n');
    await ok(`cd '${mnt}' && mkdir -p a/b && echo one > a/b/f && echo two >> a/b/f && ls -la a/b`);
    assert.equal(await readFile(join(srv, 'a', 'b', 'f'), 'utf8'), 'one\ntwo\n');
    await ok(`rm -r '${mnt}/a'`);
    await assert.rejects(stat(join(srv, 'a')), { code: 'ENOENT' });
    const r = await sh(`rmdir '${mnt}'/nonexistent; mkdir '${mnt}/x' && touch '${mnt}/x/y' && rmdir '${mnt}/x'`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No such file or directory/);
    assert.match(r.stderr, /Directory not empty/);
  }));

  it('moves data intact both ways (20 MiB, pipelined reads, write-behind)', () => withTestMount(viaMount(), async ({ dir, mnt }) => {
    const data = randomBytes(20 * 1024 * 1024 + 12345);
    await writeFile(join(dir, 'source'), data);
    await ok(`dd if='${dir}/source' of='${mnt}/copy' bs=1M conv=fsync status=none`);
    assert.equal(sha(await readFile(join(dir, 'srv', 'copy'))), sha(data), 'the server got every byte');
    await writeFile(join(dir, 'srv', 'served'), data);
    assert.equal((await ok(`sha256sum < '${mnt}/served'`)).split(' ')[0], sha(data), 'read back intact');
    assert.equal((await ok(`dd if='${mnt}/served' bs=4096 skip=1000 count=3 status=none | sha256sum`)).split(' ')[0], sha(data.subarray(4096 * 1000, 4096 * 1003)), 'random access');
  }));

  it('does what sshfs users expect: rename over, hard and symbolic links, fsync, df, truncate, kept mtimes', () => withTestMount(viaMount(), async ({ dir, mnt }) => {
    const srv = join(dir, 'srv');
    await ok(`cd '${mnt}' && echo old > target && echo new > source && mv -f source target`);
    assert.equal(await readFile(join(srv, 'target'), 'utf8'), 'new\n');
    await ok(`cd '${mnt}' && ln target hard && ln -s target soft`);
    assert.equal((await stat(join(srv, 'hard'))).ino, (await stat(join(srv, 'target'))).ino, 'a real hard link');
    assert.equal(await readlink(join(srv, 'soft')), 'target');
    assert.equal(await readlink(join(mnt, 'soft')), 'target');
    assert.equal(await ok(`stat -c %F '${mnt}/soft'`), 'symbolic link\n', 'a link shows as the link (no follow_symlinks)');
    assert.equal(await readFile(join(mnt, 'soft'), 'utf8'), 'new\n');
    await ok(`python3 -c "import os; f = os.open('${mnt}/synced', os.O_WRONLY | os.O_CREAT); os.write(f, b'data'); os.fsync(f); os.close(f)"`);
    assert.equal(await readFile(join(srv, 'synced'), 'utf8'), 'data');
    assert.match(await ok(`df -k '${mnt}' | tail -1`), /^local:\S+\s+\d+\s+\d+\s+\d+/);
    await ok(`truncate -s 3 '${mnt}/target' && truncate -s 100000 '${mnt}/synced'`);
    assert.equal(await readFile(join(srv, 'target'), 'utf8'), 'new');
    assert.equal((await stat(join(srv, 'synced'))).size, 100000);
    // mtimes: tar x, cp -p, touch -m (SFTP v3 carries whole seconds).
    await mkdir(join(dir, 'tree', 'sub'), { recursive: true });
    await writeFile(join(dir, 'tree', 'sub', 'f'), 'x');
    await ok(`touch -m -d '2001-02-03 04:05:06' '${dir}/tree/sub/f' && tar -C '${dir}' -cf '${dir}/t.tar' tree && tar -C '${mnt}' -xf '${dir}/t.tar'`);
    assert.equal((await stat(join(srv, 'tree', 'sub', 'f'))).mtime.toISOString(), '2001-02-03T04:05:06.000Z');
    await ok(`cp -p '${dir}/tree/sub/f' '${mnt}/copied' && touch -m -d '1999-12-31 23:59:59' '${mnt}/target'`);
    assert.equal((await stat(join(srv, 'copied'))).mtime.toISOString(), '2001-02-03T04:05:06.000Z');
    assert.equal((await stat(join(srv, 'target'))).mtime.toISOString(), '1999-12-31T23:59:59.000Z');
    assert.equal(await ok(`stat -c %Y '${mnt}/copied'`), `${Date.UTC(2001, 1, 3, 4, 5, 6) / 1000}\n`);
    await ok(`chmod 640 '${mnt}/copied'`);
    assert.equal((await stat(join(srv, 'copied'))).mode & 0o777, 0o640);
  }));

  // sftp-server answers a full disk with a bare FAILURE, which a write maps to EIO.
  it('reports a write the server refused at the writes after it and always at close (write-behind)', () => withTestMount(smallDiskMount(), async ({ mnt }) => {
    const r = await sh(`dd if=/dev/urandom of='${mnt}/big' bs=64k count=64 status=none`);
    assert.notEqual(r.code, 0, 'a full disk is an error');
    const [closing, ...writing] = r.stderr.trim().split('\n').reverse();
    assert.match(closing ?? '', /^dd: closing output file '.*': Input\/output error$/, r.stderr);
    for (const line of writing) assert.match(line, /^dd: error writing '.*': Input\/output error$/, r.stderr);
    const small = await sh(`rm -f '${mnt}/big' && echo fine > '${mnt}/small' && cat '${mnt}/small'`);
    assert.equal(small.stdout, 'fine\n', small.stderr);
  }));

  it('-o write_behind=0: every write waits for the server, so a refused one fails at write()', () => withTestMount(smallDiskMount(['-o', 'write_behind=0']), async ({ dir, mnt }) => {
    const output = await python(dir, [
      'import os',
      `f = os.open('${mnt}/big', os.O_WRONLY | os.O_CREAT)`,
      'written = 0',
      'try:',
      '    while written < 4 << 20:',
      '        written += os.write(f, b"x" * 65536)',
      'except OSError as e:',
      '    print("write:", e.strerror)',
      'try:',
      '    os.close(f)',
      '    print("closed")',
      'except OSError as e:',
      '    print("close:", e.strerror)',
      'print(written)',
    ]);
    const [failure, closed, written] = output.trim().split('\n');
    assert.match(failure!, /^write: (Input\/output error|No space left on device)$/, output);
    assert.equal(closed, 'closed', 'nothing was left to fail at close');
    assert.ok(Number(written) > 0 && Number(written) <= 1024 * 1024, output);
    assert.ok((await stat(join(dir, 'srv', 'big'))).size >= Number(written), 'every write answered landed');
  }));

  it('-o follow_symlinks shows what links point to; a dangling link stays a link, and can be removed', () => withTestMount(viaMount(['-o', 'follow_symlinks']), async ({ dir, mnt }) => {
    const srv = join(dir, 'srv');
    for (const at of ['named', 'listed']) {
      await mkdir(join(srv, at, 'sub'), { recursive: true });
      await writeFile(join(srv, at, 'sub', 'f'), 'target');
      await symlink('sub/f', join(srv, at, 'file-link'));
      await symlink('sub', join(srv, at, 'dir-link'));
      await symlink('nowhere', join(srv, at, 'dangling'));
    }
    const kinds = 'dangling symbolic link\ndir-link directory\nfile-link regular file\n';
    // Looked up by name (getattr), and from a listing fetched first (readdir).
    assert.equal(await ok(`cd '${mnt}/named' && stat -c '%n %F' dangling dir-link file-link`), kinds);
    assert.deepEqual((await readdir(join(mnt, 'listed'))).sort(), ['dangling', 'dir-link', 'file-link', 'sub']);
    assert.equal(await ok(`cd '${mnt}/listed' && stat -c '%n %F' dangling dir-link file-link`), kinds);
    assert.equal(await readFile(join(mnt, 'named', 'dir-link', 'f'), 'utf8'), 'target');
    assert.equal(await readlink(join(mnt, 'named', 'dangling')), 'nowhere');
    await ok(`rm '${mnt}/named/dangling' '${mnt}/listed/dangling'`);
    await assert.rejects(lstat(join(srv, 'named', 'dangling')), { code: 'ENOENT' });
    await assert.rejects(lstat(join(srv, 'listed', 'dangling')), { code: 'ENOENT' });
  }));

  // tar x and cp -p set mode and times on the file they created, just before close: those go
  // behind the writes, answered at once, and land after them (docs/benchmarks.md, kmx sftp).
  it('sends mode and times of a file it created behind its writes, in order', () => withTestMount(viaMount(), async ({ dir, mnt }) => {
    const output = await python(dir, [
      'import os, sys',
      `f = os.open('${mnt}/made', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)`,
      'os.write(f, b"x" * 300000)',
      'os.utime(f, (1000, 2000))',
      'os.fchmod(f, 0o640)',
      `s = os.stat('${mnt}/made')`,
      'print(oct(s.st_mode & 0o777), int(s.st_mtime), s.st_size)',
      'os.close(f)',
    ]);
    assert.equal(output, '0o640 2000 300000\n', 'the mount shows the changes at once');
    const landed = await stat(join(dir, 'srv', 'made'));
    assert.deepEqual([landed.mode & 0o777, landed.mtimeMs, landed.size], [0o640, 2_000_000, 300000], 'and the server has them after close, the mtime not undone by the writes');
  }));

  it('reports a mode change sent behind that the server refused at close', () => withTestMount(viaMount([], `${SFTP_SERVER} -P fsetstat`), async ({ dir, mnt }) => {
    const output = await python(dir, [
      'import os',
      `f = os.open('${mnt}/made', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)`,
      'os.write(f, b"data")',
      'os.fchmod(f, 0o640)',
      'print("fchmod answered")',
      'try:',
      '    os.close(f)',
      'except OSError as e:',
      '    print("close:", e.strerror)',
    ]);
    assert.equal(output, 'fchmod answered\nclose: Permission denied\n');
    const landed = await stat(join(dir, 'srv', 'made'));
    assert.equal(await readFile(join(dir, 'srv', 'made'), 'utf8'), 'data', 'the writes before it landed');
    assert.equal(landed.mode & 0o777, 0o600);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the kernel's own attribute cache (1 s)
    assert.equal(await ok(`stat -c %a '${mnt}/made'`), '600\n', 'the mount does not keep showing the refused mode');
    await ok(`chmod 640 '${mnt}/made'`); // by path (setstat), not refused
    assert.equal((await stat(join(dir, 'srv', 'made'))).mode & 0o777, 0o640);
  }));

  it('mounts kmx sftp serve as the far end (its confinement is tested in serve.test.ts)', () => withTestMount({
    prepare: async ({ dir }) => {
      await mkdir(join(dir, 'root', 'sub'), { recursive: true });
      await writeFile(join(dir, 'beside.txt'), 'not served');
    },
    args: ({ dir, mnt }) => ['sftp', 'mount', '--via', `${process.execPath} ${kmxBin()} sftp serve --root '${dir}/root'`, 'local:/', mnt],
  }, async ({ dir, mnt }) => {
    await ok(`cd '${mnt}' && echo a > sub/f && mv sub/f sub/g && ln sub/g sub/h && ln -s g sub/link && cat sub/link && df '${mnt}' > /dev/null`);
    assert.equal(await readFile(join(dir, 'root', 'sub', 'h'), 'utf8'), 'a\n');
    assert.equal((await stat(join(dir, 'root', 'sub', 'h'))).ino, (await stat(join(dir, 'root', 'sub', 'g'))).ino);
    assert.deepEqual((await ok(`ls '${mnt}'`)).split('\n').filter(Boolean), ['sub'], 'the root, not what lies beside it');
  }));

  // The server's "no such file" outranks the cache: without that, the rm -rf "succeeds" and
  // every name in the tree answers EEXIST until the cache times out (tar x then fails).
  it('sizes and reads follow a file that got shorter: ftruncate of an open file, and a cut behind the mount', () => withTestMount(viaMount(['-o', 'cache_timeout=1']), async ({ dir, mnt }) => {
    const block = 128 * 1024; // read-ahead's block: the reads below start inside one
    const output = await python(dir, [
      'import os, time',
      // Cut on the server while the kernel still has the old size: reads past the new end are empty.
      `open('${dir}/srv/cut-behind', 'wb').write(os.urandom(${4 * block + 500}))`,
      `f = os.open('${mnt}/cut-behind', os.O_RDONLY)`,
      `os.truncate('${dir}/srv/cut-behind', 10)`,
      `print(len(os.pread(f, 4096, ${3 * block + 5 * 4096 + 100})), len(os.pread(f, 4096, 8192)), len(os.pread(f, 100, 4)))`,
      'os.close(f)',
      // Written through the mount, then cut: once the cache has expired the size is the cut one.
      `f = os.open('${mnt}/cut', os.O_RDWR | os.O_CREAT, 0o644)`,
      'os.pwrite(f, os.urandom(3_700_000), 0)',
      'os.fsync(f)',
      'os.ftruncate(f, 2_641_179)',
      'time.sleep(1.2)',
      `print(os.fstat(f).st_size, os.stat('${mnt}/cut').st_size, len(os.pread(f, 175_993, 3_576_624)), len(os.pread(f, 175_993, 2_600_000)))`,
      'os.close(f)',
    ]);
    assert.equal(output, '0 0 6\n2641179 2641179 0 41179\n');
    assert.equal((await stat(join(dir, 'srv', 'cut'))).size, 2_641_179);
  }));

  it('keeps a file unlinked, replaced or moved while open usable through its descriptor', () => withTestMount(viaMount(), async ({ dir, mnt }) => {
    const output = await python(dir, [
      'import os',
      `m = '${mnt}'`,
      // A temporary file: made, unlinked, then used (the engine keeps the orphan; fuse-native
      // hides it under .fuse_hidden* until closed, as sshfs does).
      "fd = os.open(f'{m}/tmp', os.O_RDWR | os.O_CREAT, 0o600)",
      "os.write(fd, b'hello ' * 1000)",
      "os.unlink(f'{m}/tmp')",
      "os.pwrite(fd, b'world', 6000)",
      "print(os.pread(fd, 5, 6000).decode(), os.fstat(fd).st_size, os.path.exists(f'{m}/tmp'))",
      // A new file under the old name is another file.
      "open(f'{m}/tmp', 'w').write('new')",
      "os.pwrite(fd, b'!', 7000)",
      "print(os.fstat(fd).st_size, os.stat(f'{m}/tmp').st_size)",
      'os.close(fd)',
      // Replaced by a rename while open: the old file is still read through its descriptor.
      "open(f'{m}/old', 'w').write('old contents')",
      "fd = os.open(f'{m}/old', os.O_RDONLY)",
      "os.rename(f'{m}/tmp', f'{m}/old')",
      "print(os.pread(fd, 100, 0).decode(), os.fstat(fd).st_size, open(f'{m}/old').read())",
      'os.close(fd)',
      // Its directory moved while it is open for writing: writes and attributes follow it.
      "os.makedirs(f'{m}/d/e')",
      "fd = os.open(f'{m}/d/e/f', os.O_WRONLY | os.O_CREAT, 0o644)",
      "os.write(fd, b'x' * 100)",
      "os.rename(f'{m}/d', f'{m}/moved')",
      "os.write(fd, b'y' * 100)",
      'os.fsync(fd)',
      "print(os.fstat(fd).st_size, os.stat(f'{m}/moved/e/f').st_size)",
      'os.close(fd)',
    ]);
    assert.equal(output, 'world 6005 False\n7001 3\nold contents 12 new\n200 200\n');
    assert.equal((await readFile(join(dir, 'srv', 'moved', 'e', 'f'), 'utf8')), 'x'.repeat(100) + 'y'.repeat(100));
    await new Promise((resolve) => setTimeout(resolve, 300)); // fuse-native removes its hidden files at release
    assert.deepEqual((await readdir(join(dir, 'srv'))).sort(), ['moved', 'old']);
  }));

  it('forgets a tree removed behind its back once the server says so, and makes it again', () => withTestMount(viaMount(), async ({ dir, mnt }) => {
    await ok(`cd '${mnt}' && mkdir -p t/sub && echo 1 > t/f && echo 2 > t/sub/g && ls -R t`);
    await rm(join(dir, 'srv', 't'), { recursive: true });
    await ok(`rm -rf '${mnt}/t'`);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the kernel's own entry cache (1 s)
    assert.deepEqual(await readdir(mnt), []);
    await ok(`cd '${mnt}' && mkdir -p t/sub && set -C && echo 3 > t/f && echo 4 > t/sub/g`); // set -C: O_EXCL, as tar x
    assert.equal(await readFile(join(dir, 'srv', 't', 'sub', 'g'), 'utf8'), '4\n');
  }));

  // sftp-server answers ENAMETOOLONG (and EINVAL) with BAD_MESSAGE; a mount deep in the server's
  // tree meets the server's PATH_MAX before the client's.
  it('names and paths too long for the server are ENAMETOOLONG, not EIO', () => withTestMount(viaMount(), async ({ dir, mnt }) => {
    const name = 'n'.repeat(256);
    const r = await sh(`cd '${mnt}' && touch ${name}; mkdir ${name}; stat ${name}; ln -s x ${name}; mkdir -p d && mv d ${name}; echo done`);
    assert.equal(r.stdout, 'done\n');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 5, r.stderr);
    for (const line of lines) assert.match(line, /File name too long/);
    // A path the mount takes (relative, under PATH_MAX) that the server's root makes too long.
    const deep = Array.from({ length: 16 }, () => 'd'.repeat(250)).join('/');
    const file = `${deep}/${'f'.repeat(4095 - deep.length - 1)}`;
    const w = await sh(`cd '${mnt}' && mkdir -p ${deep} && : > ${file}`);
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, /File name too long/);
    assert.deepEqual((await readdir(join(dir, 'srv'))).sort(), ['d', 'd'.repeat(250)], 'the directory the mv could not move is there, and nothing else');
  }));

  it('--read-only, uid/gid and a short cache timeout', () => withTestMount(viaMount(['--read-only', '-o', 'uid=4321,gid=8765,cache_timeout=0.5']), async ({ dir, mnt }) => {
    const srv = join(dir, 'srv');
    await writeFile(join(srv, 'f'), 'x');
    assert.equal(await ok(`stat -c '%u %g' '${mnt}/f'`), '4321 8765\n');
    for (const script of [`echo y > '${mnt}/f'`, `touch '${mnt}/new'`, `mkdir '${mnt}/d'`, `rm '${mnt}/f'`]) {
      const r = await sh(script);
      assert.notEqual(r.code, 0, script);
      assert.match(r.stderr, /Read-only file system/, script);
    }
    assert.equal(await readFile(join(srv, 'f'), 'utf8'), 'x');
    await ok(`ls '${mnt}'`); // listing cached
    await writeFile(join(srv, 'later'), 'appears');
    await new Promise((resolve) => setTimeout(resolve, 1600));
    assert.match(await ok(`ls '${mnt}'`), /later/, 'changes beside the mount show once the cache expires');
    assert.equal((await lstat(join(mnt, 'later'))).size, 7);
  }));
});
