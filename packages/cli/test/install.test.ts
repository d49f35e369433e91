import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run, temporaryDirectory } from '@kmx/core/testing';
import { checkout, TYPES, useInstalled } from './installed.js';

/**
 * scripts/install.sh: kmx installed from packed artifacts into a prefix, then used with the
 * checkout out of reach (an empty tmpfs over it, in a private mount namespace): kmx, kmxd, a
 * real mount on both engines, mount(8) through the installed helper, the man pages; and removed.
 */

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
    // The bundle a command runs from, and the index that lets oclif load only the command's plugin.
    for (const file of ['@kmx/core/dist/bundle/kmx.cjs', '@kmx/core/dist/bundle/kmx.cjs.cache', 'kmx/dist/bundle/command-owners.json', '@kmx/plugin-sftp-fuse/dist/bundle/commands/sftp/mount.js']) assert.ok(existsSync(join(prefix, 'lib', 'kmx', 'node_modules', file)), file);

    await useInstalled({ bin: join(prefix, 'bin'), sbin, man: join(prefix, 'share', 'man') }, dir);

    const removed = await run('sh', [join(checkout, 'scripts', 'install.sh'), '--uninstall', '--prefix', prefix, '--sbin', sbin]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual([readdirSync(join(prefix, 'bin')), readdirSync(sbin), readdirSync(join(prefix, 'share', 'man', 'man1')), existsSync(join(prefix, 'lib', 'kmx'))], [[], [], [], false]);
  }));
});
