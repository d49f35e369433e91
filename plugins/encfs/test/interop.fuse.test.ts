import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sh, temporaryDirectory } from '@kmx/core/testing';
import { diffTrees, gocryptfsFsck, gocryptfsInit, listing, mustKmxInit, sampleTree, withEnc, withGocryptfs } from './helpers.js';

/**
 * Forward interop with real gocryptfs 2.3, both ways: what kmx writes, gocryptfs reads (and
 * its fsck finds clean); what gocryptfs writes, kmx reads and changes, and gocryptfs reads
 * the result. Every change is also made to a plain reference tree, and the views must match it.
 */

/**
 * Edits that exercise read-modify-write, growth, shrinking, renames (long names too), links and
 * metadata; what they touched then gets one fixed time, so views compare with their times.
 */
const EDITS = `set -e
  printf 'XYZ' | dd of=b4097 bs=1 seek=4094 conv=notrunc status=none
  printf 'tail' >> one
  dd if=r300k of=r300k bs=1000 skip=7 seek=13 count=150 conv=notrunc status=none
  truncate -s 5000 r300k; truncate -s 300000 b4096; truncate -s 4097 sparse
  mv "$(printf 'M%.0s' $(seq 1 176))" "$(printf 'K%.0s' $(seq 1 190))"
  mv "$(printf 'L%.0s' $(seq 1 200))D" d1/moved-long-dir
  mv d1/d2 top-d2; mkdir -p new/deep/er; echo hi > new/deep/er/x
  ln -s ../one new/link; ln one hard2; rm empty; rm -r 'with space'
  chmod 0640 one; touch -h -d '2001-02-03 04:05:06.5' one top-d2 new/link
  mkfifo pipe
  setfattr -n user.added -v 'new value' b4095
  find . -newermt '2015-01-01' -exec touch -h -d '2024-05-06 07:08:09.25' {} +`;

async function applyEdits(dir: string): Promise<void> {
  const r = await sh(EDITS, { cwd: dir });
  assert.equal(r.code, 0, `edits in ${dir}: ${r.stderr}`);
}

async function assertSameTree(view: string, reference: string, what: string): Promise<void> {
  assert.equal(await listing(view, { times: true }), await listing(reference, { times: true }), `${what}: listings differ`);
  assert.equal(await diffTrees(view, reference, ['pipe']), '', `${what}: contents differ`);
  const xattrs = async (d: string): Promise<string> => (await sh(`cd '${d}' && getfattr -R -d -m 'user\\.' . 2>/dev/null | LC_ALL=C sort`)).stdout;
  const expected = await xattrs(reference);
  assert.match(expected, /^user\.comment="some value"$/m, 'getfattr ran and read the reference tree');
  assert.equal(await xattrs(view), expected, `${what}: extended attributes differ`);
}

async function assertFsckClean(dir: string): Promise<void> {
  const r = await gocryptfsFsck(dir);
  assert.equal(r.code, 0, `gocryptfs -fsck: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout + r.stderr, /no problems found/);
}

describe('kmx enc and gocryptfs read and write each other\'s directories', () => {
  it('a directory written through kmx mounts in gocryptfs: same tree, fsck clean', () => temporaryDirectory(async (dir) => {
    const [cipher, reference, gmnt] = [join(dir, 'cipher'), join(dir, 'reference'), join(dir, 'gmnt')];
    await Promise.all([cipher, reference, gmnt].map((d) => mkdir(d)));
    await sampleTree(reference, { xattrs: true });
    await mustKmxInit([cipher]);
    await withEnc({ args: ({ mnt }) => [cipher, mnt] }, async ({ mnt }) => {
      const copy = await sh(`cp -a '${reference}/.' '${mnt}/'`);
      assert.equal(copy.code, 0, copy.stderr);
      await applyEdits(mnt);
      await applyEdits(reference);
      await assertSameTree(mnt, reference, 'kmx view');
    });
    await assertFsckClean(cipher);
    await withGocryptfs(cipher, gmnt, [], () => assertSameTree(gmnt, reference, 'gocryptfs view of what kmx wrote'));
  }));

  it('a directory written by gocryptfs is read and written through kmx, and gocryptfs reads the result', () => temporaryDirectory(async (dir) => {
    const [cipher, reference, gmnt] = [join(dir, 'cipher'), join(dir, 'reference'), join(dir, 'gmnt')];
    await Promise.all([cipher, reference, gmnt].map((d) => mkdir(d)));
    await sampleTree(reference, { xattrs: true });
    await gocryptfsInit(cipher);
    await withGocryptfs(cipher, gmnt, [], async () => {
      const copy = await sh(`cp -a '${reference}/.' '${gmnt}/'`);
      assert.equal(copy.code, 0, copy.stderr);
    });
    await withEnc({ args: ({ mnt }) => [cipher, mnt] }, async ({ mnt }) => {
      await assertSameTree(mnt, reference, 'kmx view of what gocryptfs wrote');
      await applyEdits(mnt);
      await applyEdits(reference);
      await assertSameTree(mnt, reference, 'kmx view after edits');
    });
    await assertFsckClean(cipher);
    await withGocryptfs(cipher, gmnt, [], () => assertSameTree(gmnt, reference, 'gocryptfs view after kmx edits'));
  }));

  it('reads and writes filesystems made with other options: AES-SIV, deterministic names, a short long-name limit, plaintext names', () => temporaryDirectory(async (dir) => {
    const reference = join(dir, 'reference');
    await mkdir(reference);
    await sampleTree(reference);
    await applyEdits(reference);
    for (const [name, flags] of [['aessiv', ['-aessiv']], ['deterministic', ['-deterministic-names']], ['longnamemax', ['-longnamemax', '62']], ['plaintextnames', ['-plaintextnames']]] as const) {
      const cipher = join(dir, name);
      const gmnt = join(dir, `${name}-g`);
      await mkdir(cipher);
      await mkdir(gmnt);
      await gocryptfsInit(cipher, flags);
      await withEnc({ args: ({ mnt }) => [cipher, mnt] }, async ({ mnt }) => {
        const copy = await sh(`cp -a '${reference}/.' '${mnt}/'`);
        assert.equal(copy.code, 0, `${name}: ${copy.stderr}`);
      });
      await assertFsckClean(cipher);
      await withGocryptfs(cipher, gmnt, [], async () => {
        assert.equal(await diffTrees(gmnt, reference, ['pipe']), '', `${name}: contents differ`);
        assert.equal(await listing(gmnt, { times: true }), await listing(reference, { times: true }), `${name}: listings differ`);
      });
    }
  }));
});
