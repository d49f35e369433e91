import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertOneLineError, mountsUnder, run, runKmx, sh, temporaryDirectory, type RunResult } from '@kmx/core/testing';
import { EXTPASS, fingerprint, gocryptfsInit, mustKmxInit } from './helpers.js';

/**
 * Bad input to every kmx enc command: one clear line on stderr, the documented exit code
 * (gocryptfs's numbers), no stack trace, nothing mounted, and nothing written to the
 * directories involved.
 */

const enc = (args: readonly string[], input?: string): Promise<RunResult> => runKmx(['enc', ...args], input === undefined ? {} : { input });

/** Runs `attempt` and checks that the directory is byte-for-byte the same afterwards and that nothing is mounted. */
async function unchanged(dir: string, watched: string, attempt: () => Promise<void>): Promise<void> {
  const before = await fingerprint(watched);
  await attempt();
  assert.equal(await fingerprint(watched), before, `${watched} was changed`);
  assert.deepEqual(await mountsUnder(dir), [], 'nothing mounted');
}

async function cipherDir(dir: string): Promise<string> {
  const cipher = join(dir, 'cipher');
  await mkdir(cipher);
  await mkdir(join(dir, 'mnt'), { recursive: true });
  await mustKmxInit([cipher]);
  return cipher;
}

/** Replaces a config's text (it is mode 0400, as gocryptfs leaves it). */
async function rewriteConfig(file: string, text: string): Promise<void> {
  await chmod(file, 0o600);
  await writeFile(file, text);
  await chmod(file, 0o400);
}

/** A config edited by `change`: it edits the JSON object in place, or returns new text. */
async function editConfig(file: string, change: (json: Record<string, unknown>) => unknown): Promise<void> {
  const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const edited = change(json);
  await rewriteConfig(file, typeof edited === 'string' ? edited : JSON.stringify(json, null, '\t'));
}

describe('kmx enc: bad input', () => {
  it('a wrong password: exit code 12 for mount, fsck, passwd and the path tools', () => temporaryDirectory(async (dir) => {
    const cipher = await cipherDir(dir);
    await unchanged(dir, cipher, async () => {
      const wrong = ['--extpass', 'echo nope'];
      assertOneLineError(await enc(['mount', ...wrong, cipher, join(dir, 'mnt')]), /^kmx: wrong password for .*gocryptfs\.conf; /, 12);
      assertOneLineError(await enc(['fsck', ...wrong, cipher]), /wrong password/, 12);
      assertOneLineError(await enc(['passwd', ...wrong, '--new-passfile', '/dev/null', cipher]), /wrong password/, 12);
      assertOneLineError(await enc(['encrypt-path', ...wrong, cipher, 'a']), /wrong password/, 12);
      assertOneLineError(await enc(['mount', cipher, join(dir, 'mnt')], 'nope\n'), /wrong password/, 12);
    });
  }));

  it('not a kmx/gocryptfs directory, a file, nothing at all, a reverse-only directory', () => temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    await mkdir(join(dir, 'plain'));
    await mkdir(mnt);
    await writeFile(join(dir, 'file'), 'x');
    await unchanged(dir, join(dir, 'plain'), async () => {
      assertOneLineError(await enc(['mount', '--extpass', EXTPASS, join(dir, 'plain'), mnt]), /is not a kmx enc or gocryptfs directory: .*gocryptfs\.conf does not exist; create one with: kmx enc init/, 23);
      assertOneLineError(await enc(['mount', '--extpass', EXTPASS, '--reverse', join(dir, 'plain'), mnt]), /is not a kmx enc or gocryptfs reverse directory: .* does not exist; create one with: kmx enc init --reverse/, 23);
      assertOneLineError(await enc(['fsck', '--extpass', EXTPASS, join(dir, 'plain')]), /is not a kmx enc or gocryptfs directory/, 23);
      assertOneLineError(await enc(['info', join(dir, 'plain')]), /is not a kmx enc or gocryptfs directory/, 23);
    });
    assertOneLineError(await enc(['mount', '--extpass', EXTPASS, join(dir, 'file'), mnt]), /cipher directory .*file is not a directory/, 1);
    assertOneLineError(await enc(['mount', '--extpass', EXTPASS, join(dir, 'gone'), mnt]), /cipher directory .*gone does not exist/, 1);
    await gocryptfsInit(join(dir, 'plain'), ['-reverse']);
    assertOneLineError(await enc(['mount', '--extpass', EXTPASS, join(dir, 'plain'), mnt]), /holds a reverse config .*; add --reverse/, 23);
  }));

  it('unsupported and unknown feature flags, other format versions', () => temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const xchacha = join(dir, 'xchacha');
    await mkdir(xchacha);
    await gocryptfsInit(xchacha, ['-xchacha']);
    await unchanged(dir, xchacha, async () => {
      assertOneLineError(await enc(['mount', '--extpass', EXTPASS, xchacha, mnt]), /uses the feature flag "XChaCha20Poly1305": .* not implemented in kmx; mount it with gocryptfs/, 23);
    });
    const cipher = await cipherDir(join(dir));
    const conf = join(cipher, 'gocryptfs.conf');
    await editConfig(conf, (j) => {
      (j.FeatureFlags as string[]).push('Frobnicate');
    });
    await unchanged(dir, cipher, async () => {
      assertOneLineError(await enc(['mount', '--extpass', EXTPASS, cipher, mnt]), /uses the feature flag "Frobnicate", which kmx does not know/, 23);
      assertOneLineError(await enc(['info', cipher]), /Frobnicate/, 23);
    });
    await editConfig(conf, (j) => {
      j.FeatureFlags = (j.FeatureFlags as string[]).filter((f) => f !== 'Frobnicate');
      j.Version = 3;
    });
    await unchanged(dir, cipher, async () => {
      assertOneLineError(await enc(['mount', '--extpass', EXTPASS, cipher, mnt]), /has format version 3; kmx reads version 2/, 23);
    });
  }));

  it('a corrupt config: not JSON, cut short, a bad key, bad scrypt parameters, no flags', () => temporaryDirectory(async (dir) => {
    const cipher = await cipherDir(dir);
    const conf = join(cipher, 'gocryptfs.conf');
    const original = await readFile(conf, 'utf8');
    const cases: Array<[string, (j: Record<string, unknown>) => unknown, RegExp]> = [
      ['not JSON', () => 'this is not json', /is corrupt: it is not valid JSON/],
      ['cut short', () => original.slice(0, 100), /is corrupt: it is not valid JSON/],
      ['a short key', (j) => {
        j.EncryptedKey = Buffer.alloc(40).toString('base64');
      }, /is corrupt: EncryptedKey is not 64 bytes/],
      ['N not a power of two', (j) => {
        (j.ScryptObject as Record<string, unknown>).N = 1000;
      }, /is corrupt: scrypt N must be a power of two/],
      ['no flags', (j) => {
        delete j.FeatureFlags;
      }, /is corrupt: FeatureFlags is not a list/],
    ];
    for (const [what, change, pattern] of cases) {
      await editConfig(conf, change);
      await unchanged(dir, cipher, async () => {
        const r = await enc(['mount', '--extpass', EXTPASS, cipher, join(dir, 'mnt')]);
        assertOneLineError(r, pattern, 23);
        assert.match(r.stderr, /restore it from a backup/, what);
      });
      await rewriteConfig(conf, original);
    }
  }));

  it('a mountpoint that is busy, or inside the directory it would show', () => temporaryDirectory(async (dir) => {
    const cipher = await cipherDir(dir);
    const mnt = join(dir, 'mnt');
    const tmpfs = await sh(`mount -t tmpfs kmxtest '${mnt}'`);
    assert.equal(tmpfs.code, 0, tmpfs.stderr);
    try {
      await unchanged(join(dir, 'cipher'), cipher, async () => {
        assertOneLineError(await enc(['mount', '--extpass', EXTPASS, cipher, mnt]), /is already a mount point \(tmpfs from kmxtest\); unmount it first/, 10);
      });
    } finally {
      await run('umount', [mnt]);
    }
    await mkdir(join(cipher, 'inner'));
    assertOneLineError(await enc(['mount', '--extpass', EXTPASS, cipher, join(cipher, 'inner')]), /must not contain each other/, 10);
  }));

  it('init: a directory that is not empty, a second init, passwords that are missing, empty or different', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'full'));
    await writeFile(join(dir, 'full', 'x'), 'x');
    await unchanged(dir, join(dir, 'full'), async () => {
      assertOneLineError(await enc(['init', '--extpass', EXTPASS, join(dir, 'full')]), /is not empty; a CIPHERDIR starts empty/, 6);
    });
    const cipher = await cipherDir(dir);
    await unchanged(dir, cipher, async () => {
      assertOneLineError(await enc(['init', '--extpass', EXTPASS, cipher]), /is not empty/, 6);
    });
    await mkdir(join(dir, 'plain'));
    await mustKmxInit(['--reverse', join(dir, 'plain')]);
    await unchanged(dir, join(dir, 'plain'), async () => {
      assertOneLineError(await enc(['init', '--reverse', '--extpass', EXTPASS, join(dir, 'plain')]), /already has a reverse config/, 6);
    });
    await mkdir(join(dir, 'empty'));
    await unchanged(dir, join(dir, 'empty'), async () => {
      assertOneLineError(await enc(['init', '--passfile', join(dir, 'missing'), join(dir, 'empty')]), /cannot read the password file .*missing: it does not exist/, 22);
      assertOneLineError(await enc(['init', '--extpass', 'exit 3', join(dir, 'empty')]), /the --extpass command failed \(exit code 3\)/, 22);
      assertOneLineError(await enc(['init', '--extpass', 'true', join(dir, 'empty')]), /the password is empty/, 22);
      assertOneLineError(await enc(['init', join(dir, 'empty')], ''), /no password given: stdin ended/, 22);
      assertOneLineError(await enc(['init', '--scryptn', '9', '--extpass', EXTPASS, join(dir, 'empty')]), /Expected an integer greater than or equal to 10/, 2);
    });
  }));

  it('sources: bad and duplicate labels, a config inside a source, a source gone at mount time', () => temporaryDirectory(async (dir) => {
    const [a, b, keys] = ['a', 'b', 'keys'].map((p) => join(dir, p));
    for (const d of [a!, b!, keys!, join(dir, 'mnt')]) await mkdir(d);
    const config = join(keys!, 'backup.conf');
    await unchanged(dir, keys!, async () => {
      assertOneLineError(await enc(['init', '--reverse', '--sources', config, '--source', `x/y=${a}`]), /bad source label "x\/y"/, 23);
      assertOneLineError(await enc(['init', '--reverse', '--sources', config, '--source', `x=${a}`, '--source', `x=${b}`]), /the source label "x" is used twice/, 23);
      assertOneLineError(await enc(['init', '--reverse', '--sources', config, '--source', `.gocryptfs.reverse.conf=${a}`]), /where stock gocryptfs would look for the config/, 23);
      assertOneLineError(await enc(['init', '--reverse', '--sources', config, '--source', 'nolabel']), /expected LABEL=PATH/, 2);
      assertOneLineError(await enc(['init', '--reverse', '--sources', config]), /lists no sources/, 23);
    });
    await unchanged(dir, a!, async () => {
      assertOneLineError(await enc(['init', '--reverse', '--extpass', EXTPASS, '--sources', join(a!, 'in.conf'), '--source', `a=${a}`]), /lies inside source "a"/, 23);
    });
    await mustKmxInit(['--reverse', '--sources', config, '--source', `a=${a}`, '--source', `b=${b}`]);
    await run('rmdir', [b!]);
    await unchanged(dir, keys!, async () => {
      assertOneLineError(await enc(['mount', '--extpass', EXTPASS, '--sources', config, join(dir, 'mnt')]), /source "b" \(.*\) does not exist; fix its path in/, 23);
      assertOneLineError(await enc(['mount', '--extpass', EXTPASS, '--sources', config, a!, join(dir, 'mnt')]), /with --sources give only the mountpoint/, 2);
    });
  }));
});
