import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kmxBin, run, runKmx, sh, temporaryDirectory } from '@kmx/core/testing';
import { EXTPASS, PASSWORD, gocryptfsFsck, gocryptfsInit, mustKmxInit, withGocryptfs } from './helpers.js';

/**
 * The commands other than mount, checked against gocryptfs: init writes what gocryptfs -init
 * writes (gocryptfs -info agrees), passwd re-seals the key so that gocryptfs takes the new
 * password, the path tools agree with gocryptfs-xray through a gocryptfs control socket, and
 * passwords come from files, commands, piped stdin or a hidden terminal prompt.
 */

/** gocryptfs -info's fields, minus Creator (the one line that rightly differs). */
async function gocryptfsInfo(dir: string, config?: string): Promise<string> {
  const r = await run('gocryptfs', ['-info', ...(config ? ['-config', config] : []), dir]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l && !l.startsWith('Creator') && !l.startsWith('Using config file')).join('\n');
}

/** Paths through gocryptfs's control socket (gocryptfs-xray reads them from stdin). */
async function xrayPaths(socket: string, mode: '-encrypt-paths' | '-decrypt-paths', paths: readonly string[]): Promise<string[]> {
  const r = await run('gocryptfs-xray', [mode, socket], { input: `${paths.join('\n')}\n` });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

async function kmxPaths(command: 'encrypt-path' | 'decrypt-path', args: readonly string[]): Promise<string[]> {
  const r = await runKmx(['enc', command, '--extpass', EXTPASS, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

describe('kmx enc init, info, passwd and the path tools', () => {
  it('init writes the config gocryptfs -init writes, for every option, and info shows what gocryptfs -info shows', () => temporaryDirectory(async (dir) => {
    const variants: Array<[string, string[], string[]]> = [
      ['default', [], []],
      ['aessiv', ['--aessiv'], ['-aessiv']],
      ['deterministic', ['--deterministic-names'], ['-deterministic-names']],
      ['longnamemax', ['--longnamemax', '100'], ['-longnamemax', '100']],
      ['plaintextnames', ['--plaintextnames'], ['-plaintextnames']],
    ];
    for (const [name, kmxFlags, gocryptfsFlags] of variants) {
      const [k, g] = [join(dir, `k-${name}`), join(dir, `g-${name}`)];
      await mkdir(k);
      await mkdir(g);
      await mustKmxInit([...kmxFlags, k]);
      await gocryptfsInit(g, gocryptfsFlags);
      assert.equal(await gocryptfsInfo(k), await gocryptfsInfo(g), `${name}: gocryptfs -info differs`);
      assert.deepEqual((await run('ls', ['-A', k])).stdout, (await run('ls', ['-A', g])).stdout, `${name}: files differ`);
      const info = await runKmx(['enc', 'info', k]);
      assert.equal(info.code, 0, info.stderr);
      for (const line of (await gocryptfsInfo(g)).split('\n')) assert.ok(info.stdout.includes(line.replace(/\s+/g, ' ').split(' ').pop()!), `${name}: kmx enc info lacks ${line}`);
    }
    const conf = join(dir, 'k-default', 'gocryptfs.conf');
    assert.equal((await stat(conf)).mode & 0o777, 0o400);
    assert.equal((await stat(join(dir, 'k-default', 'gocryptfs.diriv'))).mode & 0o777, 0o444);
    assert.match(await readFile(conf, 'utf8'), /^\{\n\t"Creator": "kmx [^"]+",\n\t"EncryptedKey": "[A-Za-z0-9+/]{86}==",\n\t"ScryptObject": \{\n\t\t"Salt": /);
    // The default cost (N = 2^16) needs more memory than Node allows scrypt by default.
    const full = join(dir, 'full-cost');
    await mkdir(full);
    const r = await runKmx(['enc', 'init', '--extpass', EXTPASS, '--json', full]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { scryptN: number }).scryptN, 65536);
    assert.equal((await gocryptfsFsck(full)).code, 0, 'gocryptfs opens it');
  }));

  it('init --reverse and --sources write configs gocryptfs reads; info --json describes them', () => temporaryDirectory(async (dir) => {
    const [plain, a, b, keys] = ['plain', 'a', 'b', 'keys'].map((p) => join(dir, p));
    for (const d of [plain!, a!, b!, keys!]) await mkdir(d);
    await mustKmxInit(['--reverse', plain!]);
    const g = join(dir, 'g');
    await mkdir(g);
    await gocryptfsInit(g, ['-reverse']);
    assert.equal(await gocryptfsInfo(plain!, join(plain!, '.gocryptfs.reverse.conf')), await gocryptfsInfo(g, join(g, '.gocryptfs.reverse.conf')));
    const config = join(keys!, 'backup.conf');
    await mustKmxInit(['--reverse', '--sources', config, '--source', `docs=${a}`, '--source', `mail=${b}`]);
    assert.equal((await stat(config)).mode & 0o777, 0o600);
    const info = await runKmx(['enc', 'info', '--json', config]);
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(info.stdout) as { kind: string; contentEncryption: string; sources: unknown };
    assert.equal(parsed.kind, 'sources');
    assert.equal(parsed.contentEncryption, 'AES-SIV-512');
    assert.deepEqual(parsed.sources, [{ label: 'docs', path: a }, { label: 'mail', path: b }]);
  }));

  it('passwd: the old password stops working, gocryptfs takes the new one, also on a directory gocryptfs made', () => temporaryDirectory(async (dir) => {
    const [k, g] = [join(dir, 'k'), join(dir, 'g')];
    await mkdir(k);
    await mkdir(g);
    await mustKmxInit([k]);
    await gocryptfsInit(g);
    await writeFile(join(dir, 'old'), `${PASSWORD}\n`);
    await writeFile(join(dir, 'new'), 'a new password\n');
    for (const cipher of [k, g]) {
      const r = await runKmx(['enc', 'passwd', '--passfile', join(dir, 'old'), '--new-passfile', join(dir, 'new'), '--scryptn', '11', cipher]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /password changed/);
      assert.equal((await gocryptfsFsck(cipher, ['-passfile', join(dir, 'new')])).code, 0, 'gocryptfs takes the new password');
      assert.equal((await gocryptfsFsck(cipher, ['-passfile', join(dir, 'old')])).code, 12, 'the old one is wrong now');
      assert.match(await gocryptfsInfo(cipher), /N=2048 /);
    }
    // Both passwords on piped stdin, one per line.
    const piped = await runKmx(['enc', 'passwd', k], { input: 'a new password\nthird\n' });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal((await runKmx(['enc', 'fsck', k], { input: 'third\n' })).code, 0);
  }));

  it('asks on the terminal without echo, twice for a new password', () => temporaryDirectory(async (dir) => {
    const cipher = join(dir, 'c');
    await mkdir(cipher);
    // script gives kmx a terminal; the input is typed only once the prompts are up.
    const typing = `(sleep 2; printf 'typed-secret\\r'; sleep 0.5; printf 'typed-secret\\r'; sleep 3)`;
    const r = await sh(`${typing} | script -qec "${process.execPath} ${kmxBin()} enc init --scryptn 10 ${cipher}" /dev/null`, { timeoutMs: 30_000 });
    assert.match(r.stdout, /New password: \r?\nRepeat: \r?\n[^]*Your master key is:[^]*\ncreated /);
    assert.doesNotMatch(r.stdout, /typed-secret/, 'the password is not echoed');
    assert.equal((await gocryptfsFsck(cipher, ['-extpass', 'echo typed-secret'])).code, 0);
  }));

  it('encrypt-path and decrypt-path agree with gocryptfs-xray through a control socket, forward and reverse', () => temporaryDirectory(async (dir) => {
    const [cipher, gmnt, plain] = [join(dir, 'cipher'), join(dir, 'gmnt'), join(dir, 'plain')];
    for (const d of [cipher, gmnt, plain]) await mkdir(d);
    await gocryptfsInit(cipher);
    const long = 'x'.repeat(200);
    const paths = ['a', 'a/b', 'a/b/file.txt', `a/${long}`, `a/${long}/inner`, 'ünï cödé'];
    await withGocryptfs(cipher, gmnt, ['-ctlsock', join(dir, 'sock')], async () => {
      const made = await sh(`cd '${gmnt}' && mkdir -p a/b '${`a/${long}`}' && touch a/b/file.txt '${`a/${long}/inner`}' 'ünï cödé'`);
      assert.equal(made.code, 0, made.stderr);
      const expected = await xrayPaths(join(dir, 'sock'), '-encrypt-paths', paths);
      assert.deepEqual(await kmxPaths('encrypt-path', [cipher, '--', ...paths]), expected, 'forward encrypt-path');
      assert.deepEqual(await kmxPaths('decrypt-path', [cipher, '--', ...expected]), paths, 'forward decrypt-path');
      assert.deepEqual(await xrayPaths(join(dir, 'sock'), '-decrypt-paths', expected), paths, 'xray decrypts them the same');
    });
    const made = await sh(`cd '${plain}' && mkdir -p a/b '${`a/${long}`}' && touch a/b/file.txt '${`a/${long}/inner`}' 'ünï cödé'`);
    assert.equal(made.code, 0, made.stderr);
    await mustKmxInit(['--reverse', plain]);
    await withGocryptfs(plain, gmnt, ['-reverse', '-ctlsock', join(dir, 'rsock')], async () => {
      const expected = await xrayPaths(join(dir, 'rsock'), '-encrypt-paths', paths);
      assert.deepEqual(await kmxPaths('encrypt-path', ['--reverse', plain, '--', ...paths]), expected, 'reverse encrypt-path');
      assert.deepEqual(await kmxPaths('decrypt-path', ['--reverse', plain, '--', ...expected]), paths, 'reverse decrypt-path');
    });
    // An encrypted name may start with '-': after '--' it is a path, not an option.
    const bad = await runKmx(['enc', 'decrypt-path', '--extpass', EXTPASS, cipher, 'gocryptfs.diriv']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^kmx: gocryptfs.diriv is a file of the filesystem itself/);
  }));
});
