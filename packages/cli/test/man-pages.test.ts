import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { run, runKmx } from '@kmx/core/testing';

/** The man pages the build writes from the commands' own help (npm run build: scripts/man-pages.mjs). */

const dir = fileURLToPath(new URL('../man/man1', import.meta.url));

describe('man pages', () => {
  it('has kmx(1) and a page for every command, which groff renders without a warning', async () => {
    const pages = readdirSync(dir).sort();
    for (const page of ['kmx.1', 'kmx-sftp-mount.1', 'kmx-enc-mount.1', 'kmx-ns-tree.1', 'kmx-nfs-mount.1', 'kmx-procsys-serve.1', 'kmx-mounts.1', 'kmx-umount.1']) assert.ok(pages.includes(page), page);
    for (const page of pages) {
      const r = await run('groff', ['-man', '-Tutf8', '-ww', '-z', `${dir}/${page}`]);
      assert.deepEqual([r.code, r.stderr], [0, ''], page);
    }
    const sftp = await run('man', ['-l', `${dir}/kmx-sftp-mount.1`], { env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '' } });
    const help = await runKmx(['sftp', 'mount', '--help']);
    assert.match(sftp.stdout, /SYNOPSIS\s+kmx sftp mount REMOTE MOUNTPOINT/);
    for (const flag of ['--via', '--identity', '--accept-new-host-key', '--daemon', '--option']) {
      assert.match(help.stdout, new RegExp(flag));
      assert.match(sftp.stdout, new RegExp(flag), `the page has ${flag}, as --help does`);
    }
  });
});
