import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runKmx, temporaryDirectory } from '@kmx/core/testing';

interface Check { name: string; ok: boolean; detail: string; fix?: string; required: boolean }

describe('kmx doctor', () => {
  it('reports every check on one line, with a fix for what is missing', async () => {
    const r = await runKmx(['doctor']);
    assert.equal(r.code, 0, `kmx can mount here, so doctor succeeds:\n${r.stdout}${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    for (const name of ['/dev/fuse', 'fusermount3', 'libfuse2', 'libfuse3', 'kernel fuse', 'kernel nfs', 'kernel nfs4', 'unprivileged user namespaces', 'kmxd', 'sftp-server', 'ssh', 'gocryptfs', 'rsync', 'dot', 'lsns', 'kmx enc AES-GCM']) {
      assert.ok(lines.some((l) => new RegExp(`^(ok|missing) +${name.replace(/[/]/g, '\\/')} `).test(l)), `a line for ${name}`);
    }
    for (const line of lines.filter((l) => l.startsWith('missing'))) assert.match(line, /; fix: \S/, line);
  });

  it('looks for kmxd where the clients do: $KMXD_SOCKET', () => temporaryDirectory(async (dir) => {
    const socket = join(dir, 'kmxd.sock');
    const server = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const r = await runKmx(['doctor', '--json'], { env: { ...process.env, KMXD_SOCKET: socket } });
      const kmxd = (JSON.parse(r.stdout) as Check[]).find((c) => c.name === 'kmxd');
      assert.deepEqual([kmxd?.ok, kmxd?.detail], [true, `answers on ${socket}`]);
      const missing = await runKmx(['doctor', '--json'], { env: { ...process.env, KMXD_SOCKET: join(dir, 'none.sock') } });
      assert.match((JSON.parse(missing.stdout) as Check[]).find((c) => c.name === 'kmxd')?.detail ?? '', /^not running \(no .*none\.sock\)/);
    } finally {
      server.close();
    }
  }));

  it('--json gives the same checks as data', async () => {
    const r = await runKmx(['doctor', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const checks = JSON.parse(r.stdout) as Check[];
    assert.ok(checks.length >= 15);
    for (const c of checks) {
      assert.equal(typeof c.name, 'string');
      assert.equal(typeof c.ok, 'boolean');
      if (!c.ok) assert.ok(c.fix, `${c.name} has a fix`);
    }
    assert.ok(checks.find((c) => c.name === '/dev/fuse'), 'a /dev/fuse check (its verdict depends on the host\'s device mode)');
    assert.ok(checks.find((c) => c.name === 'FUSE engine')?.ok);
    assert.ok(checks.find((c) => c.name === 'directory lister')?.ok, 'npm run build made kmx-dirlist');
  });
});
