// The metadata cache (src/lib/filesystem/cache.ts): what a change forgets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Attr } from '@kmx/core';
import { MetadataCache } from '../src/lib/filesystem/cache.js';

const t = { sec: 0, nsec: 0 };
const attr = (mode: number): Attr => ({ mode, ino: 1, nlink: 1, uid: 0, gid: 0, rdev: 0, size: 0, blksize: 4096, blocks: 0, atime: t, mtime: t, ctime: t });
const DIR = 0o040755;
const FILE = 0o100644;

describe('MetadataCache', () => {
  it('forgets a removed directory\'s subtree, and nothing beside it', () => {
    const cache = new MetadataCache(60_000);
    cache.setListing('/', [{ name: 't', attr: attr(DIR) }, { name: 'other', attr: attr(FILE) }]);
    cache.setListing('/t', [{ name: 'f', attr: attr(FILE) }, { name: 'sub', attr: attr(DIR) }]);
    cache.setListing('/t/sub', [{ name: 'g', attr: attr(FILE) }]);
    cache.removed('/t');
    assert.equal(cache.lookup('/t'), null, 'the parent\'s listing no longer has it');
    assert.equal(cache.lookup('/t/f'), undefined, 'unknown: asked again');
    assert.equal(cache.lookup('/t/sub/g'), undefined);
    assert.equal(cache.lookup('/other')?.mode, FILE);
  });

  it('forgets what lies deep beneath a name, even below directories it never cached, and keeps a large rest', () => {
    const cache = new MetadataCache(60_000);
    cache.setListing('/big', Array.from({ length: 25_000 }, (_, i) => ({ name: `f${i}`, attr: attr(FILE) })));
    cache.setListing('/', [{ name: 't', attr: attr(DIR) }, { name: 'big', attr: attr(DIR) }]);
    cache.setAttr('/t/a/b/deep', attr(FILE)); // /t/a and /t/a/b were never cached themselves
    cache.setListing('/t/a/b/c', [{ name: 'g', attr: attr(FILE) }]);
    cache.removed('/t');
    assert.equal(cache.lookup('/t/a/b/deep'), undefined);
    assert.equal(cache.lookup('/t/a/b/c/g'), undefined);
    assert.equal(cache.listing('/t/a/b/c'), undefined);
    assert.equal(cache.lookup('/big/f24999')?.mode, FILE, 'the rest stays');
    cache.setAttr('/t', attr(DIR)); // made again: nothing old comes back beneath it
    assert.equal(cache.lookup('/t/a/b/deep'), undefined);
    cache.removed('/big');
    assert.equal(cache.lookup('/big/f0'), undefined);
  });

  it('a name made or removed in a directory forgets the directory\'s own attributes (its times and link count moved), not its listing', () => {
    const cache = new MetadataCache(60_000);
    cache.setListing('/', [{ name: 'd', attr: attr(DIR) }, { name: 'e', attr: attr(DIR) }]);
    cache.setListing('/d', [{ name: 'x', attr: attr(FILE) }]);
    cache.added('/d/new', attr(FILE));
    assert.equal(cache.lookup('/d'), undefined, 'asked again');
    assert.deepEqual([...cache.listing('/d')!].sort(), ['new', 'x'], 'the listing stays, with the new name');
    cache.setListing('/', [{ name: 'd', attr: attr(DIR) }, { name: 'e', attr: attr(DIR) }]);
    cache.removed('/d/x');
    assert.equal(cache.lookup('/d'), undefined);
    assert.equal(cache.lookup('/d/x'), null);
    assert.equal(cache.lookup('/e')?.mode, DIR, 'its sibling stays');
  });

  it('a change through one name of a hard-linked file forgets what its other names say (link count, ctime)', () => {
    const cache = new MetadataCache(60_000);
    const linked = { ...attr(FILE), ino: 77, nlink: 2 };
    cache.setListing('/a', [{ name: 'f', attr: linked }, { name: 'other', attr: { ...attr(FILE), ino: 78 } }]);
    cache.setAttr('/b/g', linked);
    cache.forgetFile(77);
    assert.equal(cache.lookup('/a/f'), undefined);
    assert.equal(cache.lookup('/b/g'), undefined);
    assert.equal(cache.lookup('/a/other')?.ino, 78);
  });
});
