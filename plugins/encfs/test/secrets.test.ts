import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kmxBin, run, runKmx, sh, temporaryDirectory } from '@kmx/core/testing';
import { forwardConfigPath, newConfig, readConfig, unlockConfig, writeConfig } from '../src/lib/configfile/index.js';
import { EXTPASS, mustKmxInit } from './helpers.js';

/**
 * Secrets written, then protected? Never: every config kmx enc writes (it holds the master key,
 * sealed under the password) is created owner-only (0400, 0600 for a multi-source config) in a
 * new temporary file of the same directory, and renamed into place. No chmod afterwards, no
 * reuse of a file that was there (a planted temporary file, or a config made world-readable,
 * keeps nothing of the key readable), whatever the umask.
 */

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** What a planted file must still be afterwards: its content and mode, untouched. */
async function plant(path: string): Promise<() => Promise<void>> {
  await writeFile(path, 'planted by someone else');
  await chmod(path, 0o644);
  return async () => {
    assert.equal(await readFile(path, 'utf8'), 'planted by someone else', `${path} was written to`);
    assert.equal(await mode(path), 0o644, `${path} changed mode`);
  };
}

describe('kmx enc: secrets are created protected', () => {
  it('init, with umask 0: the config is 0400 from the start (a multi-source one 0600), no temporary file left', () => temporaryDirectory(async (dir) => {
    const cipher = join(dir, 'cipher');
    await mkdir(cipher);
    const init = await sh(`umask 0 && exec '${process.execPath}' '${kmxBin()}' enc init --scryptn 10 --extpass '${EXTPASS}' '${cipher}'`);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(await mode(forwardConfigPath(cipher)), 0o400);
    assert.deepEqual((await readdir(cipher)).sort(), ['gocryptfs.conf', 'gocryptfs.diriv']);
    await mkdir(join(dir, 'docs'));
    const sources = await sh(`umask 0 && exec '${process.execPath}' '${kmxBin()}' enc init --reverse --scryptn 10 --extpass '${EXTPASS}' --sources '${dir}/backup.conf' --source 'docs=${dir}/docs'`);
    assert.equal(sources.code, 0, sources.stderr);
    assert.equal(await mode(join(dir, 'backup.conf')), 0o600);
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes('backup.conf')), ['backup.conf']);
  }));

  it('passwd over a config made world-readable, beside a planted gocryptfs.conf.tmp: a new owner-only config, renamed into place, nothing chmod\'ed; the planted file untouched', () => temporaryDirectory(async (dir) => {
    const cipher = join(dir, 'cipher');
    await mkdir(cipher);
    await mustKmxInit([cipher]);
    const config = forwardConfigPath(cipher);
    await chmod(config, 0o644);
    const planted = await plant(join(cipher, 'gocryptfs.conf.tmp')); // gocryptfs's own temporary name
    const trace = join(dir, 'trace');
    const strace = (await run('sh', ['-c', 'command -v strace'])).code === 0;
    const args = ['enc', 'passwd', '--extpass', EXTPASS, '--new-extpass', 'echo new-pw', cipher];
    const r = strace
      ? await run('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=open,openat,creat,chmod,fchmod,fchmodat,rename,renameat,renameat2,link,linkat', process.execPath, kmxBin(), ...args])
      : await runKmx(args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await mode(config)) & 0o077, 0, 'the new config is owner-only');
    await planted();
    assert.deepEqual((await readdir(cipher)).sort(), ['gocryptfs.conf', 'gocryptfs.conf.tmp', 'gocryptfs.diriv']);
    const unlocked = await unlockConfig(await readConfig(config, cipher), Buffer.from('new-pw'));
    assert.equal(unlocked.length, 32);
    if (strace) {
      const calls = (await readFile(trace, 'utf8')).split('\n');
      assert.deepEqual(calls.filter((l) => /\b(f?chmod(at)?)\(/.test(l)), [], 'nothing is chmod\'ed');
      const created = calls.filter((l) => l.includes(cipher) && /O_CREAT/.test(l));
      assert.equal(created.length, 1, created.join('\n'));
      const [, temporary, flags, how] = /"([^"]+)", ([^,]+), (0\d+)\) = \d+/.exec(created[0]!) ?? [];
      assert.match(flags!, /O_EXCL/, created[0]);
      assert.ok(['0400', '0600'].includes(how!), `created with mode ${how}`);
      assert.equal(temporary!.startsWith(`${cipher}/.gocryptfs.conf.`), true, temporary);
      assert.ok(calls.some((l) => l.includes(`rename("${temporary}", "${config}") = 0`)), 'renamed into place');
    }
  }));

  it('writeConfig: a file or symlink planted at a temporary name is neither used nor removed; the config is 0400', () => temporaryDirectory(async (dir) => {
    const file = join(dir, 'gocryptfs.conf');
    // Where kmx used to put its temporary file (a name anyone could predict), and gocryptfs's.
    const plantedAt = [join(dir, `.gocryptfs.conf.kmx-${process.pid}.tmp`), join(dir, 'gocryptfs.conf.tmp')];
    const checks = await Promise.all(plantedAt.map(plant));
    await symlink(join(dir, 'elsewhere'), join(dir, `.gocryptfs.conf.kmx-${process.pid + 1}.tmp`));
    const { config } = await newConfig(file, { password: Buffer.from('pw'), logN: 10, creator: 'test' });
    await writeConfig(config);
    assert.equal(await mode(file), 0o400);
    for (const check of checks) await check();
    await assert.rejects(stat(join(dir, 'elsewhere')), { code: 'ENOENT' });
    // Asked for a loose mode (a config that had one), it is still owner-only.
    await writeConfig(config, { mode: 0o644 });
    assert.equal(await mode(file), 0o600);
    assert.equal((await readdir(dir)).length, 4, (await readdir(dir)).join(' '));
  }));
});
