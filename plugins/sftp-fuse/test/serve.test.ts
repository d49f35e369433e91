// kmx sftp serve: driven by OpenSSH's sftp -D and by sshfs -o passive, and attacked by a
// client that tries to leave its root.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kmxBin, mountsUnder, run, runKmx, temporaryDirectory } from '@kmx/core/testing';
import { shell as sh, spawnServe, waitFor, withServe } from './support.js';

const serveCommand = (root: string, extra = ''): string => `${process.execPath} ${kmxBin()} sftp serve --root '${root}' ${extra}`;

/** A tree with a secret beside the root and traps inside it. */
async function attackTree(dir: string): Promise<string> {
  const root = join(dir, 'root');
  await mkdir(join(root, 'sub'), { recursive: true });
  await writeFile(join(dir, 'secret.txt'), 'outside');
  await chmod(join(dir, 'secret.txt'), 0o600);
  await writeFile(join(root, 'inside.txt'), 'inside');
  await symlink(join(dir, 'secret.txt'), join(root, 'abs-link')); // absolute host path
  await symlink('../secret.txt', join(root, 'rel-link'));
  await symlink('../../..', join(root, 'sub', 'up'));
  await symlink(dir, join(root, 'dir-link'));
  return root;
}

describe('kmx sftp serve', () => {
  it('serves OpenSSH\'s sftp -D: list, get, put, mkdir, rename, symlink, remove, df', () => temporaryDirectory(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    await writeFile(join(root, 'hello.txt'), 'hello\n');
    await writeFile(join(dir, 'upload.txt'), 'uploaded\n');
    await writeFile(join(dir, 'batch'), [
      'ls -l', `get hello.txt ${dir}/got.txt`, `put ${dir}/upload.txt up.txt`, 'mkdir newdir', 'rename up.txt newdir/moved.txt',
      'ln -s hello.txt link', 'rm hello.txt', 'df', 'ls',
    ].join('\n'));
    const r = await run('sftp', ['-D', serveCommand(root), '-b', join(dir, 'batch')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello\.txt/);
    assert.equal(await readFile(join(dir, 'got.txt'), 'utf8'), 'hello\n');
    assert.equal(await readFile(join(root, 'newdir', 'moved.txt'), 'utf8'), 'uploaded\n');
    assert.equal((await lstat(join(root, 'link'))).isSymbolicLink(), true);
    await assert.rejects(stat(join(root, 'hello.txt')), { code: 'ENOENT' });
    assert.match(r.stdout, /Size\s+Used\s+Avail/);
  }));

  it('is mounted by sshfs -o passive over a pipe', () => temporaryDirectory(async (dir) => {
    const root = join(dir, 'root');
    const mnt = join(dir, 'mnt');
    await mkdir(join(root, 'd'), { recursive: true });
    await mkdir(mnt);
    await writeFile(join(root, 'd', 'f.txt'), 'through sshfs\n');
    const serve = spawnServe(root);
    const sshfs = spawn('sshfs', ['-f', '-o', 'passive', 'kmx:/', mnt], { stdio: ['pipe', 'pipe', 'inherit'] });
    serve.stdout.pipe(sshfs.stdin);
    sshfs.stdout.pipe(serve.stdin);
    const sshfsExit = new Promise((resolve) => sshfs.once('exit', resolve));
    const serveExit = new Promise((resolve) => serve.once('exit', resolve));
    try {
      await waitFor('sshfs to mount', async () => (await mountsUnder(mnt)).length > 0);
      assert.equal(await readFile(join(mnt, 'd', 'f.txt'), 'utf8'), 'through sshfs\n');
      const w = await sh(`echo written > '${mnt}/d/new.txt' && mv '${mnt}/d/new.txt' '${mnt}/d/renamed.txt' && ls '${mnt}/d'`);
      assert.equal(w.code, 0, w.stderr);
      assert.equal(await readFile(join(root, 'd', 'renamed.txt'), 'utf8'), 'written\n');
    } finally {
      await run('fusermount3', ['-u', mnt]);
      sshfs.kill();
      await sshfsExit;
      serve.stdin.end();
      await serveExit;
    }
  }));

  it('keeps every path inside its root: .., absolute paths, symlinks old and new, renames, links', () => temporaryDirectory(async (dir) => {
    const root = await attackTree(dir);
    await withServe(root, [], async (s) => {
      // Paths that climb out land on the root itself.
      for (const p of ['../secret.txt', '/../secret.txt', '../../../../secret.txt', 'sub/../../secret.txt']) {
        await assert.rejects(s.lstat(p), { code: 'ENOENT' }, p);
        await assert.rejects(s.open(p, 1), { code: 'ENOENT' }, p);
      }
      assert.equal(await s.realpath('../..'), '/');
      assert.equal(await s.realpath('/sub/up'), '/');
      assert.deepEqual((await s.readdir('/sub/up')).map((e) => e.name).sort(), (await s.readdir('/')).map((e) => e.name).sort());
      // Absolute host paths mean paths inside the root.
      await assert.rejects(s.stat('/etc/passwd'), { code: 'ENOENT' });
      await assert.rejects(s.stat(join(dir, 'secret.txt')), { code: 'ENOENT' });
      // Symlinks are resolved inside the root, whoever made them.
      for (const link of ['/abs-link', '/rel-link', '/dir-link/secret.txt']) {
        await assert.rejects(s.open(link, 1), { code: 'ENOENT' }, link);
        await assert.rejects(s.setstat(link, { mode: 0o666 }), { code: 'ENOENT' }, link);
      }
      await s.symlink(join(dir, 'secret.txt'), '/made-by-client');
      await s.symlink('../../secret.txt', '/made-relative');
      await assert.rejects(s.open('/made-by-client', 1), { code: 'ENOENT' });
      await assert.rejects(s.open('/made-relative', 1), { code: 'ENOENT' });
      await assert.rejects(s.open('/dir-link/created.txt', 0x2 | 0x8), { code: 'ENOENT' }, 'no file created through a link to outside');
      // Renames, hard links and mkdirs that aim outside end inside (or fail).
      await s.rename('/inside.txt', '../../moved.txt', false);
      await assert.rejects(s.link('../secret.txt', '/stolen'), { code: 'ENOENT' });
      await s.mkdir('../../made-dir', 0o755);
    });
    assert.equal(await readFile(join(dir, 'secret.txt'), 'utf8'), 'outside');
    assert.equal((await stat(join(dir, 'secret.txt'))).mode & 0o777, 0o600, 'mode unchanged');
    assert.deepEqual((await readdir(dir)).sort(), ['root', 'secret.txt'], 'nothing appeared beside the root');
    assert.equal(await readFile(join(root, 'moved.txt'), 'utf8'), 'inside');
    assert.ok((await stat(join(root, 'made-dir'))).isDirectory());
  }));

  it('--read-only refuses every change', () => temporaryDirectory(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    await writeFile(join(root, 'keep.txt'), 'keep');
    await withServe(root, ['--read-only'], async (s) => {
      assert.equal((await s.lstat('/keep.txt')).size, 4);
      await assert.rejects(s.open('/keep.txt', 0x2), { code: 'EACCES' });
      await assert.rejects(s.open('/new.txt', 0x2 | 0x8), { code: 'EACCES' });
      await assert.rejects(s.mkdir('/d', 0o755), { code: 'EACCES' });
      await assert.rejects(s.unlink('/keep.txt'), { code: 'EACCES' });
      await assert.rejects(s.rename('/keep.txt', '/x', true), { code: 'EACCES' });
      await assert.rejects(s.setstat('/keep.txt', { mode: 0o777 }), { code: 'EACCES' });
      await assert.rejects(s.symlink('keep.txt', '/l'), { code: 'EACCES' });
    });
    assert.deepEqual(await readdir(root), ['keep.txt']);
  }));

  it('opens only regular files: a FIFO, a device or a directory in the root is refused at once, not waited on', () => temporaryDirectory(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    const made = await run('sh', ['-c', `cd '${root}' && mkfifo fifo && mknod null c 1 3 && mkdir sub && ln -s fifo to-fifo && echo ok > plain`]);
    assert.equal(made.code, 0, made.stderr);
    await withServe(root, [], async (s) => {
      const started = Date.now();
      for (const [path, flags, code] of [['/fifo', 0x1, 'EINVAL'], ['/fifo', 0x2, 'EINVAL'], ['/to-fifo', 0x1, 'EINVAL'], ['/null', 0x2, 'EINVAL'], ['/sub', 0x1, 'EISDIR']] as const) {
        await assert.rejects(s.open(path, flags), { code }, `${path} opened with ${flags}`);
      }
      assert.ok(Date.now() - started < 5_000, 'without blocking');
      const plain = await s.open('/plain', 0x1);
      await s.closeHandle(plain, '/plain');
    });
  }));

  it('answers garbage, a missing root and a file as root with one line and a non-zero exit', () => temporaryDirectory(async (dir) => {
    await writeFile(join(dir, 'file'), 'x');
    const cases: Array<[string[], string, RegExp]> = [
      [['--root', dir], 'this is not SFTP at all, just text\n', /the client broke the SFTP protocol/],
      [['--root', join(dir, 'missing')], '', /root directory .* does not exist/],
      [['--root', join(dir, 'file')], '', /root directory .* is not a directory/],
    ];
    for (const [args, input, pattern] of cases) {
      const r = await runKmx(['sftp', 'serve', ...args], { input });
      assert.notEqual(r.code, 0);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, pattern);
    }
  }));
});
