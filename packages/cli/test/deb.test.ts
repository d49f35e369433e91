import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run, temporaryDirectory } from '@kmx/core/testing';
import { checkout, TYPES, useInstalled } from './installed.js';

/**
 * scripts/deb.sh: the Debian package of kmx, built, inspected, installed with dpkg on this
 * machine, used with the checkout out of reach, and purged (also when the test fails). A kmx
 * package installed before the test is left alone: the test does not run then.
 */

const installedBefore = (await run('dpkg-query', ['-W', '-f', '${Status}', 'kmx'])).stdout.includes('install ok installed');

describe('the Debian package', () => {
  it('builds, installs with dpkg (units not enabled), works without the checkout, and purges', { timeout: 300_000, skip: installedBefore && 'a kmx package is installed on this machine' }, () => temporaryDirectory(async (dir) => {
    const built = await run('sh', [join(checkout, 'scripts', 'deb.sh'), '--no-build', '--out', dir], { timeoutMs: 240_000 });
    assert.equal(built.code, 0, built.stderr);
    const deb = built.stdout.trim();
    assert.match(deb, /\/kmx_0\.1\.0_amd64\.deb$/);
    const fields = await run('dpkg-deb', ['-f', deb, 'Package', 'Depends', 'Architecture']);
    assert.match(fields.stdout, /^Package: kmx$/m);
    assert.match(fields.stdout, /^Depends: nodejs \(>= 20\), fuse3, libfuse3-3, libfuse2, libssl3, libnfs13, util-linux$/m);
    const contents = (await run('dpkg-deb', ['-c', deb])).stdout;
    for (const path of ['./usr/bin/kmx ', './usr/bin/kmxd ', './usr/lib/systemd/system/kmxd.socket', './usr/share/man/man1/kmx.1', ...TYPES.map((t) => `./usr/sbin/mount.fuse.kmx-${t} `)]) assert.ok(contents.includes(path), path);
    assert.ok(!contents.includes('/node_modules/typescript/'), 'no development dependencies');

    try {
      const installed = await run('dpkg', ['-i', deb], { timeoutMs: 120_000 });
      assert.equal(installed.code, 0, installed.stderr);
      assert.match(readFileSync('/usr/lib/systemd/system/kmxd.service', 'utf8'), /^ExecStart=\/usr\/bin\/kmxd /m);
      const enabled = existsSync('/etc/systemd/system') ? readdirSync('/etc/systemd/system', { recursive: true }).map(String).filter((p) => p.includes('kmxd')) : [];
      assert.deepEqual(enabled, [], 'kmxd units are not enabled');
      await useInstalled({ bin: '/usr/bin', sbin: '/usr/sbin', man: '/usr/share/man' }, dir);
    } finally {
      const purged = await run('dpkg', ['--purge', 'kmx'], { timeoutMs: 120_000 });
      assert.equal(purged.code, 0, purged.stderr);
    }
    assert.deepEqual(['/usr/bin/kmx', '/usr/sbin/mount.fuse.kmx-sftp', '/usr/lib/kmx', '/usr/lib/systemd/system/kmxd.service'].filter((p) => existsSync(p)), []);
  }));
});
