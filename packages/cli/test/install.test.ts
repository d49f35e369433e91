import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { mountsUnder, run, temporaryDirectory } from '@kmx/core/testing';

/**
 * scripts/install.sh: kmx installed from packed artifacts into a prefix, then used with the
 * checkout out of reach (an empty tmpfs over it, in a private mount namespace): kmx, kmxd, a
 * real mount on both engines, mount(8) through the installed helper, the man pages; and removed.
 */

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const TYPES = ['passthrough', 'sftp', 'enc', 'procsys', 'nfs'];

describe('installing kmx', () => {
  it('installs from packed artifacts, works without the checkout, and uninstalls', { timeout: 300_000 }, () => temporaryDirectory(async (dir) => {
    const prefix = join(dir, 'prefix');
    const sbin = join(dir, 'sbin');
    const installed = await run('sh', [join(checkout, 'scripts', 'install.sh'), '--no-build', '--prefix', prefix, '--sbin', sbin], { timeoutMs: 240_000 });
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stdout, /^kmx: installed in .*\(kmx\/0\.1\.0 linux-x64 node-v20\.[\d.]+\)/m);
    for (const name of ['kmx', 'kmxd', ...TYPES.map((t) => `kmx-${t}`)]) assert.ok(readlinkSync(join(prefix, 'bin', name)).startsWith(join(prefix, 'lib', 'kmx', 'node_modules')), name);
    for (const t of TYPES) assert.ok(existsSync(join(sbin, `mount.fuse.kmx-${t}`)), `mount.fuse.kmx-${t}`);
    assert.ok(readdirSync(join(prefix, 'share', 'man', 'man1')).includes('kmx-sftp-mount.1'));
    assert.match(readFileSync(join(prefix, 'lib', 'systemd', 'system', 'kmxd.service'), 'utf8'), new RegExp(`^ExecStart=${prefix}/bin/kmxd `, 'm'));
    assert.ok(!existsSync(join(prefix, 'lib', 'kmx', 'node_modules', 'typescript')), 'no development dependencies');

    for (const d of ['src', 'mnt', 'mnt2', 'work']) await mkdir(join(dir, d));
    await writeFile(join(dir, 'src', 'f'), 'from the installed kmx\n');
    const kmx = join(prefix, 'bin', 'kmx');
    const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `
      mount -t tmpfs hidden '${checkout}'
      test -z "$(ls -A '${checkout}')"
      '${kmx}' --version
      '${kmx}' doctor --json > '${dir}/doctor.json'
      for engine in libfuse3 fuse-native; do
        KMX_FUSE_ENGINE=$engine '${kmx}' passthrough --daemon '${dir}/src' '${dir}/mnt' > /dev/null
        cat '${dir}/mnt/f'; '${kmx}' mounts | grep -c ' '$engine' ' ; '${kmx}' umount '${dir}/mnt'
      done
      mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=${sbin},workdir=${dir}/work /usr/sbin
      mount -t fuse.kmx-passthrough '${dir}/src' '${dir}/mnt2' -o noexec
      cat '${dir}/mnt2/f'; umount '${dir}/mnt2'
      '${join(prefix, 'bin', 'kmxd')}' --help | head -1
      MANPATH='${prefix}/share/man' man -w kmx-enc-mount`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      r.stdout.split('\n')[0], 'from the installed kmx', '1', 'from the installed kmx', '1', 'from the installed kmx',
      'kmxd — the root daemon behind `kmx nfs mount`', join(prefix, 'share', 'man', 'man1', 'kmx-enc-mount.1'),
    ]);
    const doctor = JSON.parse(readFileSync(join(dir, 'doctor.json'), 'utf8')) as Array<{ name: string; ok: boolean }>;
    for (const check of ['FUSE engine', 'engine libfuse3', 'engine fuse-native', 'directory lister', 'kmx enc AES-GCM']) assert.equal(doctor.find((c) => c.name === check)?.ok, true, check);
    assert.deepEqual(await mountsUnder(dir), []);

    const removed = await run('sh', [join(checkout, 'scripts', 'install.sh'), '--uninstall', '--prefix', prefix, '--sbin', sbin]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual([readdirSync(join(prefix, 'bin')), readdirSync(sbin), readdirSync(join(prefix, 'share', 'man', 'man1')), existsSync(join(prefix, 'lib', 'kmx'))], [[], [], [], false]);
  }));
});
