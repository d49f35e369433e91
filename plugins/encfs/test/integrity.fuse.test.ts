import assert from 'node:assert/strict';
import { mkdir, open, readFile, rename, rm, truncate } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { runKmx, sh, temporaryDirectory } from '@kmx/core/testing';
import { EXTPASS, gocryptfsFsck, mustKmxInit, withEnc } from './helpers.js';

/**
 * Integrity: a damaged block, header, name, size or directory IV is never returned as data.
 * The read that touches it fails with EIO and the server logs one line about it; reads
 * elsewhere in the file still work; kmx enc fsck finds every problem (exit code 26), as does
 * gocryptfs -fsck.
 */

const BLOCK = 4096;
const CIPHER_BLOCK = 4128;
const HEADER = 18;

async function cipherPathOf(cipher: string, plain: string): Promise<string> {
  const r = await runKmx(['enc', 'encrypt-path', '--extpass', EXTPASS, cipher, plain]);
  assert.equal(r.code, 0, r.stderr);
  return join(cipher, r.stdout.trim());
}

async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] ^= 0x55;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** A CIPHERDIR with a few files written through kmx: three blocks, two blocks, small ones, a subdirectory. */
async function populated(dir: string): Promise<string> {
  const cipher = join(dir, 'cipher');
  await mkdir(cipher);
  await mustKmxInit([cipher]);
  await withEnc({ args: ({ mnt }) => [cipher, mnt] }, async ({ mnt }) => {
    const r = await sh(`cd '${mnt}' && head -c ${3 * BLOCK} /dev/urandom > big && head -c ${2 * BLOCK} /dev/urandom > trunc &&
      echo victim > victim && echo header > header && mkdir sub && echo inner > sub/inner && ln -s big link`);
    assert.equal(r.code, 0, r.stderr);
  });
  return cipher;
}

function linesMatching(text: string, pattern: RegExp): string[] {
  return text.split('\n').filter((l) => pattern.test(l));
}

describe('kmx enc integrity', () => {
  it('tampered blocks: EIO for reads of them, one log line, the other blocks still readable; fsck finds each, exit 26 like gocryptfs', () => temporaryDirectory(async (dir) => {
    const cipher = await populated(dir);
    await flipByte(await cipherPathOf(cipher, 'big'), HEADER + CIPHER_BLOCK + 100);
    await flipByte(await cipherPathOf(cipher, 'trunc'), HEADER + CIPHER_BLOCK - 1); // the tag of block 0
    await withEnc({ args: ({ mnt }) => [cipher, mnt] }, async (m) => {
      const r = await sh(`cd '${m.mnt}'
        dd if=big bs=${BLOCK} count=1 status=none | wc -c
        dd if=big bs=${BLOCK} skip=1 count=1 status=none 2>&1 | tail -1
        dd if=big bs=${BLOCK} skip=2 count=1 status=none | wc -c
        cat big > /dev/null 2>&1 || echo cat-failed
        cat big > /dev/null 2>&1 || echo cat-failed-again`);
      assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.replace(/^.*: /, '')), [String(BLOCK), 'Input/output error', String(BLOCK), 'cat-failed', 'cat-failed-again']);
      assert.equal(linesMatching(m.output(), /corrupt block 1 of \/big/).length, 1, `one log line, got:\n${m.output()}`);
    });
    const fsck = await runKmx(['enc', 'fsck', '--extpass', EXTPASS, cipher]);
    assert.equal(fsck.code, 26, fsck.stdout + fsck.stderr);
    assert.match(fsck.stdout, /^corrupt-block: \/big .*block 1 /m);
    assert.match(fsck.stdout, /^corrupt-block: \/trunc .*block 0 /m);
    assert.equal(linesMatching(fsck.stdout, /^corrupt-/).length, 2, fsck.stdout);
    assert.match(fsck.stderr, /^kmx: fsck found 2 problems/);
    assert.equal((await gocryptfsFsck(cipher)).code, 26, 'gocryptfs -fsck agrees');
  }));

  it('a corrupt header, a truncated file, a bad name and a missing diriv: EIO or hidden, one line each, all found by fsck', () => temporaryDirectory(async (dir) => {
    const cipher = await populated(dir);
    await flipByte(await cipherPathOf(cipher, 'header'), 1); // the version field
    await truncate(await cipherPathOf(cipher, 'trunc'), HEADER + CIPHER_BLOCK + 10); // a last block too short to be one
    const victim = await cipherPathOf(cipher, 'victim');
    await rename(victim, join(dirname(victim), basename(victim).slice(0, -2))); // no longer a whole number of blocks
    const inner = await cipherPathOf(cipher, 'sub/inner');
    await rm(join(dirname(inner), 'gocryptfs.diriv'));
    await withEnc({ args: ({ mnt }) => [cipher, mnt] }, async (m) => {
      const r = await sh(`cd '${m.mnt}'
        cat header 2>&1 | sed 's/.*: //'
        stat -c %s trunc; dd if=trunc bs=${BLOCK} count=1 status=none | wc -c; cat trunc > /dev/null 2>&1 || echo trunc-eio
        ls; ls sub 2>&1 | sed 's/.*: //'`);
      assert.deepEqual(r.stdout.trim().split('\n'), ['Input/output error', String(BLOCK + 1), String(BLOCK), 'trunc-eio', 'big', 'header', 'link', 'sub', 'trunc', 'Input/output error']);
      const out = m.output();
      assert.equal(linesMatching(out, /corrupt header in \/header/).length, 1, out);
      assert.equal(linesMatching(out, /corrupt file \/trunc/).length, 1, out);
      assert.equal(linesMatching(out, /bad name .* \(shown as \/\)/).length, 1, out);
      assert.equal(linesMatching(out, /gocryptfs.diriv is missing/).length, 1, out);
    });
    const fsck = await runKmx(['enc', 'fsck', '--extpass', EXTPASS, cipher]);
    assert.equal(fsck.code, 26, fsck.stdout + fsck.stderr);
    for (const kind of ['corrupt-header', 'corrupt-size', 'bad-name', 'missing-diriv']) assert.match(fsck.stdout, new RegExp(`^${kind}: `, 'm'), fsck.stdout);
    assert.equal((await gocryptfsFsck(cipher)).code, 26, 'gocryptfs -fsck agrees');
  }));

  it('a clean directory checks clean, with the counts', () => temporaryDirectory(async (dir) => {
    const cipher = await populated(dir);
    const fsck = await runKmx(['enc', 'fsck', '--extpass', EXTPASS, cipher]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    assert.match(fsck.stdout, /^no problems found \(2 directories, 5 files, 1 symlinks, 8 blocks\)$/m);
    const json = await runKmx(['enc', 'fsck', '--json', '--extpass', EXTPASS, cipher]);
    assert.deepEqual((JSON.parse(json.stdout) as { problems: unknown[] }).problems, []);
    assert.match(await readFile(join(cipher, 'gocryptfs.conf'), 'utf8'), /"Creator"/);
  }));
});
