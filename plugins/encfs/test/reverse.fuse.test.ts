import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run, runKmx, sh, temporaryDirectory } from '@kmx/core/testing';
import { EXTPASS, diffTrees, gocryptfsFsck, gocryptfsInit, listing, mustKmxInit, sampleTree, withEnc, withGocryptfs } from './helpers.js';

/**
 * The reverse view against real `gocryptfs -reverse` on the same tree and config: the same
 * names, sizes, modes, link targets and bytes. Copies of the view restore with `gocryptfs -ro`
 * and with kmx. A multi-source view equals `gocryptfs -reverse` of a directory holding the
 * sources (bind-mounted) under their labels.
 */

/**
 * Checksums of every regular file, sorted by path. Hard-linked files are left out: both
 * implementations give all names of an inode the IVs of the name met first, so their bytes
 * depend on access order; instead, within one view, all their names must read the same.
 */
async function checksums(dir: string): Promise<string> {
  const r = await sh(`cd '${dir}' && find . -type f -links 1 -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`);
  assert.equal(r.code, 0, r.stderr);
  // One line per distinct (inode, content): an inode listed twice has names that read differently.
  const links = await sh(`cd '${dir}' && find . -type f -links +1 -exec sh -c 'for f; do echo "$(stat -c %i "$f") $(sha256sum < "$f")"; done' _ {} + | sort -u | cut -d' ' -f1 | uniq -d`);
  assert.equal(links.stdout, '', `the names of a hard-linked file read differently in ${dir}`);
  return r.stdout;
}

/** The two views agree entry for entry and byte for byte (inode numbers aside: the devices differ). */
async function assertIdenticalViews(kmx: string, gocryptfs: string): Promise<void> {
  assert.equal(await listing(kmx, { times: true }), await listing(gocryptfs, { times: true }), 'listings differ');
  assert.equal(await checksums(kmx), await checksums(gocryptfs), 'contents differ');
  // Reads at odd offsets and lengths give the same bytes too.
  const r = await sh(`for f in $(cd '${kmx}' && find . -type f -links 1 -size +0 | head -50); do
      a=$(dd if='${kmx}'/$f bs=1 skip=17 count=5000 status=none | sha256sum); b=$(dd if='${gocryptfs}'/$f bs=1 skip=17 count=5000 status=none | sha256sum)
      [ "$a" = "$b" ] || echo "differs: $f"; done`);
  assert.equal(r.stdout, '', r.stdout);
}

async function plainTree(dir: string): Promise<void> {
  await mkdir(dir);
  await sampleTree(dir, { fifo: true });
  // Symlinks deeper down and a long directory name with links inside.
  const r = await sh(`cd '${dir}' && ln -s ../../../one d1/d2/d3/link3 && mkdir -p "$(printf 'Q%.0s' $(seq 1 180))/sub" && ln -s ../x "$(printf 'Q%.0s' $(seq 1 180))/sub/l"`);
  assert.equal(r.code, 0, r.stderr);
}

describe('kmx enc mount --reverse', () => {
  it('is byte-identical to gocryptfs -reverse, with a config from gocryptfs -init -reverse and with its own', () => temporaryDirectory(async (dir) => {
    const plain = join(dir, 'plain');
    const gmnt = join(dir, 'gmnt');
    await plainTree(plain);
    await mkdir(gmnt);
    await gocryptfsInit(plain, ['-reverse']);
    await withEnc({ args: ({ mnt }) => ['--reverse', plain, mnt] }, async ({ mnt }) => {
      await withGocryptfs(plain, gmnt, ['-reverse'], () => assertIdenticalViews(mnt, gmnt));
    });
    // kmx's own reverse config, read by gocryptfs
    const plain2 = join(dir, 'plain2');
    await plainTree(plain2);
    await mustKmxInit(['--reverse', plain2]);
    await withEnc({ args: ({ mnt }) => ['--reverse', plain2, mnt] }, async ({ mnt }) => {
      await withGocryptfs(plain2, gmnt, ['-reverse'], () => assertIdenticalViews(mnt, gmnt));
      const hidden = await sh(`ls -a '${mnt}' | grep -c reverse.conf`);
      assert.equal(hidden.stdout.trim(), '0', 'the reverse config is hidden');
    });
  }));

  it('is read-only, keeps plaintext times, and follows changes to the plain tree', () => temporaryDirectory(async (dir) => {
    const plain = join(dir, 'plain');
    await plainTree(plain);
    await mustKmxInit(['--reverse', plain]);
    await withEnc({ args: ({ mnt }) => ['--reverse', plain, mnt] }, async ({ mnt }) => {
      const r = await sh(`cd '${mnt}' && { touch new 2>&1; mkdir x 2>&1; rm gocryptfs.diriv 2>&1; echo x >> gocryptfs.conf 2>&1; } | sed 's/.*: //' | sort -u`);
      assert.equal(r.stdout.trim(), 'Read-only file system');
      const before = (await sh(`ls '${mnt}' | wc -l`)).stdout;
      await writeFile(join(plain, 'added later'), 'x'.repeat(5000));
      await sh(`touch -d '2011-11-11 11:11:11' '${plain}/added later'`);
      // Names are cached for a second: the new entry shows up after that, with its size and time.
      let sizes = { stdout: '' };
      for (let i = 0; i < 50 && sizes.stdout === ''; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        sizes = await sh(`cd '${mnt}' && stat -c '%s %Y' -- * | sort | grep ' 1321009871$'`);
      }
      const after = (await sh(`ls '${mnt}' | wc -l`)).stdout;
      assert.equal(Number(after), Number(before) + 1);
      assert.equal(sizes.stdout.trim(), `${18 + 5000 + 32 * 2} 1321009871`);
    });
  }));

  it('a copy of the view restores with gocryptfs -ro and with kmx enc mount', () => temporaryDirectory(async (dir) => {
    const [plain, copy, gmnt] = [join(dir, 'plain'), join(dir, 'copy'), join(dir, 'gmnt')];
    await plainTree(plain);
    await mkdir(copy);
    await mkdir(gmnt);
    await mustKmxInit(['--reverse', plain]);
    await withEnc({ args: ({ mnt }) => ['--reverse', plain, mnt] }, async ({ mnt }) => {
      const r = await sh(`cp -a '${mnt}/.' '${copy}/' 2>&1 | grep -v fifo; true`);
      assert.equal(r.stdout, '', r.stdout);
    });
    const fsck = await gocryptfsFsck(copy);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    const excludes = ['.gocryptfs.reverse.conf', 'fifo'];
    await withGocryptfs(copy, gmnt, ['-ro'], async () => assert.equal(await diffTrees(gmnt, plain, excludes), '', 'gocryptfs restore differs'));
    await withEnc({ args: ({ mnt }) => ['--ro', copy, mnt] }, async ({ mnt }) => {
      assert.equal(await diffTrees(mnt, plain, excludes), '', 'kmx restore differs');
      assert.equal(await listing(mnt, { times: true, nlink: false }), (await listing(plain, { times: true, nlink: false })).split('\n').filter((l) => !l.includes('.gocryptfs.reverse.conf')).join('\n'));
    });
    const kmxFsck = await runKmx(['enc', 'fsck', '--extpass', EXTPASS, copy]);
    assert.equal(kmxFsck.code, 0, kmxFsck.stdout + kmxFsck.stderr);
  }));

  it('--sources: several directories under one view, identical to gocryptfs -reverse of them bind-mounted under their labels', () => temporaryDirectory(async (dir) => {
    const [a, b, config, oracle, gmnt, copy, restored] = ['a', 'b', 'keys/backup.conf', 'oracle', 'gmnt', 'copy', 'restored'].map((p) => join(dir, p));
    await plainTree(a!);
    await mkdir(b!);
    await sampleTree(b!);
    await mkdir(join(dir, 'keys'));
    for (const d of [oracle!, gmnt!, copy!, restored!]) await mkdir(d);
    await mustKmxInit(['--reverse', '--sources', config!, '--source', `docs=${a}`, '--source', `Mail ✉=${b}`]);
    await withEnc({ args: ({ mnt }) => ['--sources', config!, mnt] }, async ({ mnt }) => {
      const shown = JSON.parse(await readFile(join(mnt, 'gocryptfs.conf'), 'utf8')) as Record<string, unknown>;
      assert.equal(shown.KmxSources, undefined, 'the view does not publish the source paths');
      // The oracle: the sources bind-mounted under their labels, the view's config in place.
      for (const [label, source] of [['docs', a!], ['Mail ✉', b!]] as const) {
        await mkdir(join(oracle!, label));
        const bind = await run('mount', ['--bind', source, join(oracle!, label)]);
        assert.equal(bind.code, 0, bind.stderr);
      }
      await writeFile(join(oracle!, '.gocryptfs.reverse.conf'), await readFile(join(mnt, 'gocryptfs.conf')), { mode: 0o400 });
      await chmod(oracle!, 0o555);
      await sh(`touch -r '${config}' '${oracle}' '${oracle}/.gocryptfs.reverse.conf'`);
      await withGocryptfs(oracle!, gmnt!, ['-reverse'], () => assertIdenticalViews(mnt, gmnt!));
      const r = await sh(`cp -a '${mnt}/.' '${copy}/' 2>&1 | grep -v fifo; true`);
      assert.equal(r.stdout, '', r.stdout);
    });
    await withGocryptfs(copy!, restored!, ['-ro'], async () => {
      assert.equal(await diffTrees(join(restored!, 'docs'), a!, ['fifo']), '');
      assert.equal(await diffTrees(join(restored!, 'Mail ✉'), b!), '');
    });
  }));
});
