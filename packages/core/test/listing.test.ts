// The native directory lister and stat against Node's fs on the same files: same names, same
// attributes, same errors.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, lstatSync, openSync } from 'node:fs';
import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { attrFromStats, fstatAttr, listDirectory, listWithNodeFs, lstatAttr, nativeListing, type DirEntry } from '../src/index.js';
import { temporaryDirectory } from '@kmx/core/testing';

const byName = (entries: DirEntry[]): DirEntry[] => [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** A directory with every kind of entry, names and times at their edges. */
async function everyKind(dir: string): Promise<void> {
  await writeFile(join(dir, 'file'), 'x'.repeat(5000));
  await mkdir(join(dir, 'sub'));
  await symlink('nowhere', join(dir, 'dangling'));
  await symlink('file', join(dir, 'link'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  await writeFile(join(dir, 'n'.repeat(255)), '');
  await writeFile(join(dir, 'ünïcödé ☃'), '');
  await writeFile(join(dir, 'old'), '');
  await utimes(join(dir, 'old'), -1.5, 0.25); // before 1970: negative seconds
  execFileSync('touch', ['-d', '2300-01-01 00:00:00.123456789Z', join(dir, 'future')]);
}

describe('directory listing with attributes', () => {
  it('is native here (built by npm run build)', () => {
    assert.equal(nativeListing(), true);
  });

  it('lists every kind of entry exactly as readdir + lstat do', () => temporaryDirectory(async (dir) => {
    await everyKind(dir);
    const native = byName(listDirectory(dir));
    assert.deepEqual(native, byName(listWithNodeFs(dir)));
    assert.equal(native.length, 9);
    assert.ok(native.every((e) => e.attr !== undefined));
    assert.deepEqual(native.find((e) => e.name === 'future')?.attr?.mtime, { sec: 10_413_792_000, nsec: 123_456_789 });
  }));

  it('grows its buffer for a listing larger than the first one', () => temporaryDirectory(async (dir) => {
    // 3,000 entries of 200-byte names: about 0.9 MB of records, beyond the first 256 KiB.
    await Promise.all(Array.from({ length: 3000 }, (_, i) => writeFile(join(dir, `${String(i).padStart(200, 'f')}`), '')));
    const native = listDirectory(dir);
    assert.equal(native.length, 3000);
    assert.deepEqual(byName(native), byName(listWithNodeFs(dir)));
  }));

  it('lists an empty directory as empty', () => temporaryDirectory(async (dir) => {
    assert.deepEqual(listDirectory(dir), []);
  }));

  it('fails as readdirSync does, with the errno name', () => temporaryDirectory(async (dir) => {
    await writeFile(join(dir, 'file'), '');
    assert.throws(() => listDirectory(join(dir, 'missing')), { code: 'ENOENT', syscall: 'scandir' });
    assert.throws(() => listDirectory(join(dir, 'file')), { code: 'ENOTDIR', syscall: 'scandir' });
    assert.throws(() => listWithNodeFs(join(dir, 'missing')), { code: 'ENOENT', syscall: 'scandir' });
  }));
});

describe('attributes of one file', () => {
  it('are those of a BigInt lstatSync and fstatSync, for every kind of entry', () => temporaryDirectory(async (dir) => {
    await everyKind(dir);
    for (const { name } of listWithNodeFs(dir)) {
      const path = join(dir, name);
      assert.deepEqual(lstatAttr(path), attrFromStats(lstatSync(path, { bigint: true })), name);
    }
    assert.deepEqual(lstatAttr(dir), attrFromStats(lstatSync(dir, { bigint: true })));
    const fd = openSync(join(dir, 'future'), 'r');
    try {
      assert.deepEqual(fstatAttr(fd), attrFromStats(fstatSync(fd, { bigint: true })));
    } finally {
      closeSync(fd);
    }
  }));

  it('fail as lstatSync and fstatSync do, with the errno name', () => temporaryDirectory(async (dir) => {
    await writeFile(join(dir, 'file'), '');
    assert.throws(() => lstatAttr(join(dir, 'missing')), { code: 'ENOENT', syscall: 'lstat' });
    assert.throws(() => lstatAttr(join(dir, 'file', 'below')), { code: 'ENOTDIR', syscall: 'lstat' });
    assert.throws(() => lstatAttr(`${dir}/${'n'.repeat(256)}`), { code: 'ENAMETOOLONG', syscall: 'lstat' });
    assert.throws(() => fstatAttr(1_000_000), { code: 'EBADF', syscall: 'fstat' });
  }));
});
