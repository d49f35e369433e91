import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertOneLineError, run, runKmx, temporaryDirectory } from '@kmx/core/testing';
import { EXTPASS, PASSWORD, gocryptfsFsck, gocryptfsInitWithKey, printedMasterKey } from './helpers.js';

/**
 * kmx enc as gocryptfs users type it (no mounts here; recovery.fuse.test.ts mounts): its
 * single-dash flags, the master key printed at init as gocryptfs prints it (and the same key
 * gocryptfs itself reads out of the config), -config, and typos that name the flag meant.
 */

/** The master key stored in a config, as gocryptfs-xray reads it with the password. */
async function xrayMasterKey(config: string, password = PASSWORD): Promise<string> {
  const r = await run('gocryptfs-xray', ['-dumpmasterkey', config], { input: `${password}\n` });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const hex = (key: string): string => key.replaceAll('-', '');

describe('kmx enc speaks gocryptfs\'s language', () => {
  it('init with gocryptfs\'s flags prints the master key as gocryptfs -init does: the key in the config, which gocryptfs -fsck -masterkey accepts', () => temporaryDirectory(async (dir) => {
    const [cipher, theirs] = [join(dir, 'cipher'), join(dir, 'theirs')];
    await mkdir(cipher);
    await mkdir(theirs);
    const r = await runKmx(['enc', 'init', '-scryptn', '10', '-extpass', EXTPASS, '-nosyslog', cipher]);
    assert.equal(r.code, 0, r.stderr);
    const key = printedMasterKey(r.stdout);
    assert.match(key, /^([0-9a-f]{8}-){7}[0-9a-f]{8}$/);
    assert.match(r.stdout, /forget your password,\nthere is only one hope for recovery: the master key\. Write it on paper/);
    assert.equal(hex(key), await xrayMasterKey(join(cipher, 'gocryptfs.conf')), 'the printed key is the one the config seals');
    // gocryptfs's own notice has the same layout (printedMasterKey reads both).
    assert.match(await gocryptfsInitWithKey(theirs), /^([0-9a-f]{8}-){7}[0-9a-f]{8}$/);
    assert.match(r.stderr, /^kmx enc: deriving the key from the password \(scrypt N=1024\), please wait…$/m);
    const fsck = await gocryptfsFsck(cipher, [`-masterkey=${key}`]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
  }));

  it('init -q (and --quiet) prints nothing; --json carries the key unless --quiet', () => temporaryDirectory(async (dir) => {
    for (const [name, args] of [['q', ['-q']], ['quiet', ['--quiet']]] as const) {
      const cipher = join(dir, name);
      await mkdir(cipher);
      const r = await runKmx(['enc', 'init', ...args, '-scryptn', '10', cipher], { input: `${PASSWORD}\n` }); // the password as a line of stdin
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout + r.stderr, '', 'quiet');
    }
    await mkdir(join(dir, 'json'));
    const json = await runKmx(['enc', 'init', '--json', '-scryptn', '10', '-extpass', EXTPASS, join(dir, 'json')]);
    const parsed = JSON.parse(json.stdout) as { masterKey?: string };
    assert.equal(hex(parsed.masterKey ?? ''), await xrayMasterKey(join(dir, 'json', 'gocryptfs.conf')));
    await mkdir(join(dir, 'json-quiet'));
    const quiet = await runKmx(['enc', 'init', '--json', '--quiet', '-scryptn', '10', '-extpass', EXTPASS, join(dir, 'json-quiet')]);
    assert.equal((JSON.parse(quiet.stdout) as { masterKey?: string }).masterKey, undefined);
  }));

  it('init at the default scrypt cost says it is working before the key derivation', () => temporaryDirectory(async (dir) => {
    const [cipher, pw] = [join(dir, 'cipher'), join(dir, 'pw')];
    await mkdir(cipher);
    await writeFile(pw, `${PASSWORD}\n`);
    const r = await runKmx(['enc', 'init', '-passfile', pw, cipher]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^kmx enc: deriving the key from the password \(scrypt N=65536\), please wait…$/m);
    assert.match(r.stdout, /^Your master key is:$/m);
  }));

  it('-config keeps the config away from the CIPHERDIR, readable both ways with gocryptfs -config', () => temporaryDirectory(async (dir) => {
    const [cipher, config, theirs, theirConfig] = [join(dir, 'cipher'), join(dir, 'kmx.conf'), join(dir, 'theirs'), join(dir, 'theirs.conf')];
    await mkdir(cipher);
    await mkdir(theirs);
    const init = await runKmx(['enc', 'init', '-q', '-scryptn', '10', '-extpass', EXTPASS, `-config=${config}`, cipher]);
    assert.equal(init.code, 0, init.stderr);
    assert.deepEqual(await readdir(cipher), ['gocryptfs.diriv']);
    assert.equal((await gocryptfsFsck(cipher, ['-extpass', EXTPASS, '-config', config])).code, 0, 'gocryptfs reads kmx\'s config');
    const g = await run('gocryptfs', ['-init', '-q', '-scryptn', '10', '-extpass', EXTPASS, '-config', theirConfig, theirs]);
    assert.equal(g.code, 0, g.stderr);
    for (const [cipherDir, file] of [[cipher, config], [theirs, theirConfig]] as const) {
      const fsck = await runKmx(['enc', 'fsck', '-extpass', EXTPASS, '-config', file, cipherDir]);
      assert.equal(fsck.code, 0, fsck.stderr);
      assert.match(fsck.stdout, /no problems found/);
    }
    const info = await runKmx(['enc', 'info', '-config', theirConfig, theirs]);
    assert.equal(info.code, 0, info.stderr);
    assertOneLineError(await runKmx(['enc', 'fsck', '-extpass', EXTPASS, theirs]), /is not a kmx enc or gocryptfs directory: .*gocryptfs\.conf does not exist/, 23);
  }));

  it('passwd --masterkey (gocryptfs -passwd -masterkey): a lost password replaced with the master key; gocryptfs takes the new one', () => temporaryDirectory(async (dir) => {
    const cipher = join(dir, 'cipher');
    await mkdir(cipher);
    const key = await gocryptfsInitWithKey(cipher);
    const r = await runKmx(['enc', 'passwd', '-masterkey', 'stdin', '--new-extpass', 'echo found-again', cipher], { input: `${key}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await gocryptfsFsck(cipher, ['-extpass', 'echo found-again'])).code, 0, 'gocryptfs takes the new password');
    assert.equal((await gocryptfsFsck(cipher)).code, 12, 'the old one is gone');
  }));

  it('a mistyped flag, single dash or double, names the right one; a gocryptfs flag kmx lacks is refused in one line', () => temporaryDirectory(async (dir) => {
    for (const typo of ['-passfil', '-pasfile', '--pasfile', '-pasfile=x']) {
      assertOneLineError(await runKmx(['enc', 'mount', typo, 'x', dir, dir]), new RegExp(`^kmx: Nonexistent flag: ${typo}; did you mean --passfile\\? see: kmx enc mount --help$`), 2);
    }
    assertOneLineError(await runKmx(['enc', 'init', '-scryptN', '10', dir]), /did you mean --scryptn\?/, 2);
    assertOneLineError(await runKmx(['enc', 'mount', '-masterky', 'stdin', dir, dir]), /did you mean --masterkey\?/, 2);
    assertOneLineError(await runKmx(['enc', 'mount', '-scryptn', '10', dir, dir]), /^kmx: Nonexistent flag: -scryptn; .*see: kmx enc mount --help$/, 2);
    assertOneLineError(await runKmx(['enc', 'mount', '-masterkey=abc', '-extpass', EXTPASS, dir, dir]), /--extpass=.* cannot also be provided when using --masterkey/, 2);
    const [plain, mnt] = [join(dir, 'plain'), join(dir, 'mnt')];
    await mkdir(plain);
    await mkdir(mnt);
    assert.equal((await runKmx(['enc', 'init', '-q', '-reverse', '-scryptn', '10', '-extpass', EXTPASS, plain])).code, 0);
    assertOneLineError(await runKmx(['enc', 'mount', `-masterkey=${'0'.repeat(64)}`, '-reverse', plain, mnt]), /^kmx: --masterkey opens a CIPHERDIR .*, not a reverse view; /, 2);
  }));
});
