import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, mountsUnder, runKmx, sh, temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { EXTPASS, diffTrees, gocryptfsInitWithKey, printedMasterKey, sampleTree, withEnc, withGocryptfs } from './helpers.js';

/**
 * The master key as the way back, both ways with gocryptfs 2.3: the key kmx enc init prints
 * opens kmx's CIPHERDIR in gocryptfs -masterkey and in kmx enc mount --masterkey once the
 * password is lost; the key gocryptfs -init prints opens gocryptfs's files in kmx. A wrong key
 * is refused before anything is mounted. And a foreground mount says when it is ready, as
 * gocryptfs does, with gocryptfs's mount flags.
 */

async function copyInto(reference: string, mnt: string): Promise<void> {
  const r = await sh(`cp -a '${reference}/.' '${mnt}/'`);
  assert.equal(r.code, 0, r.stderr);
}

async function assertSameContent(view: string, reference: string, what: string): Promise<void> {
  assert.equal(await diffTrees(view, reference), '', `${what}: contents differ`);
}

/** Waits (up to 5 s) for a server's output to match. */
async function outputMatches(output: () => string, pattern: RegExp): Promise<void> {
  for (let i = 0; !pattern.test(output()); i++) {
    if (i > 250) assert.fail(`no ${String(pattern)} in:\n${output()}`);
    await sleep(20);
  }
}

/** A kmx enc mount with --daemon and the master key on stdin, unmounted after `body`. */
async function withMasterKeyOnStdin(cipher: string, mnt: string, key: string, body: () => Promise<void>): Promise<void> {
  const r = await runKmx(['enc', 'mount', '--daemon', '-masterkey=stdin', cipher, mnt], { input: `${key}\n` });
  assert.equal(r.code, 0, r.stderr);
  try {
    await body();
  } finally {
    await runKmx(['umount', mnt]);
  }
}

describe('kmx enc: the master key opens a CIPHERDIR, kmx\'s or gocryptfs\'s', () => {
  it('kmx init\'s key, the password lost: gocryptfs -masterkey reads kmx\'s files, and so does kmx enc mount --masterkey (argument or stdin)', () => temporaryDirectory(async (dir) => {
    const [cipher, reference, gmnt, kmnt] = ['cipher', 'reference', 'gmnt', 'kmnt'].map((n) => join(dir, n)) as [string, string, string, string];
    for (const d of [cipher, reference, gmnt, kmnt]) await mkdir(d);
    await sampleTree(reference);
    const init = await runKmx(['enc', 'init', '-scryptn', '10', '-extpass', EXTPASS, cipher]);
    assert.equal(init.code, 0, init.stderr);
    const key = printedMasterKey(init.stdout);
    await withEnc({ args: ({ mnt }) => [cipher, mnt] }, ({ mnt }) => copyInto(reference, mnt));
    // The password is lost: nobody knows the new one.
    const lost = await runKmx(['enc', 'passwd', '--extpass', EXTPASS, '--new-extpass', 'head -c 24 /dev/urandom | base64', cipher]);
    assert.equal(lost.code, 0, lost.stderr);
    assertOneLineError(await runKmx(['enc', 'mount', '--extpass', EXTPASS, cipher, kmnt]), /wrong password/, 12);

    await withGocryptfs(cipher, gmnt, [`-masterkey=${key}`], () => assertSameContent(gmnt, reference, 'gocryptfs -masterkey'));
    await withTestMount({ args: ({ mnt }) => ['enc', 'mount', '-masterkey', key, cipher, mnt] }, async ({ mnt, output }) => {
      await assertSameContent(mnt, reference, 'kmx enc mount -masterkey KEY');
      assert.match(output(), /a master key on the command line shows in "ps"/, 'warned that the key is visible');
    });
    await withMasterKeyOnStdin(cipher, kmnt, key, () => assertSameContent(kmnt, reference, 'kmx enc mount -masterkey=stdin'));
  }));

  it('gocryptfs -init\'s key opens gocryptfs\'s files in kmx (mount and fsck); a wrong or malformed key is refused, nothing mounted', () => temporaryDirectory(async (dir) => {
    const [cipher, reference, gmnt, kmnt] = ['cipher', 'reference', 'gmnt', 'kmnt'].map((n) => join(dir, n)) as [string, string, string, string];
    for (const d of [cipher, reference, gmnt, kmnt]) await mkdir(d);
    await sampleTree(reference);
    const key = await gocryptfsInitWithKey(cipher);
    await withGocryptfs(cipher, gmnt, [], () => copyInto(reference, gmnt));
    await withMasterKeyOnStdin(cipher, kmnt, key, () => assertSameContent(kmnt, reference, 'kmx view of gocryptfs\'s files'));
    const fsck = await runKmx(['enc', 'fsck', '-masterkey', 'stdin', cipher], { input: `${key.replaceAll('-', '')}\n` });
    assert.equal(fsck.code, 0, fsck.stderr);
    assert.match(fsck.stdout, /^no problems found/m);

    const wrong = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`;
    assertOneLineError(await runKmx(['enc', 'mount', '-masterkey=stdin', cipher, kmnt], { input: `${wrong}\n` }), /^kmx: the master key does not fit .*cipher: \d+ encrypted entr(y does|ies do) not decrypt with it; /, 14);
    assertOneLineError(await runKmx(['enc', 'mount', '-masterkey=stdin', cipher, kmnt], { input: 'abc\n' }), /^kmx: the master key has 3 hex digits, not 64/, 14);
    assertOneLineError(await runKmx(['enc', 'mount', '-masterkey=stdin', cipher, kmnt], { input: `${key.replace(/[0-9a-f]$/, 'x')}\n` }), /^kmx: the master key is not hexadecimal/, 14);
    assert.deepEqual(await mountsUnder(dir), [], 'nothing mounted');
  }));

  it('a foreground mount says when it is mounted and ready, as gocryptfs does; -ro, -allow_other, -fg and -nosyslog as gocryptfs spells them; -q says nothing', () => temporaryDirectory(async (dir) => {
    const [cipher, gmnt] = [join(dir, 'cipher'), join(dir, 'gmnt')];
    await mkdir(cipher);
    await mkdir(gmnt);
    await gocryptfsInitWithKey(cipher);
    await withGocryptfs(cipher, gmnt, [], (output) => outputMatches(output, /^Filesystem mounted and ready\.$/m), { verbose: true });

    await withTestMount({ args: ({ mnt }) => ['enc', 'mount', '-extpass', EXTPASS, '-ro', '-allow_other', '-fg', '-nosyslog', cipher, mnt] }, async ({ mnt, output }) => {
      await outputMatches(output, new RegExp(`^kmx enc: filesystem mounted and ready on ${mnt}$`, 'm'));
      const line = (await readFile('/proc/self/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === mnt) ?? '';
      assert.match(line, /\bro\b/, line);
      assert.match(line, /\ballow_other\b/, line);
    });
    await withTestMount({ args: ({ mnt }) => ['enc', 'mount', '-q', '-extpass', EXTPASS, cipher, mnt] }, async ({ mnt, output }) => {
      assert.ok((await readFile('/proc/self/mounts', 'utf8')).includes(` ${mnt} `));
      await sleep(300);
      assert.doesNotMatch(output(), /mounted and ready/);
    });
  }));
});
