import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { kmxBin, run, stopChild } from '@kmx/core/testing';
import { startUi } from './ui-server.js';
import { withUsers } from './users.js';

// `kmx ns graph --view`: the namespaces view of a kmx ui server of the user's that is running,
// or of a new one it starts (and stops with it). As a test user: root's runtime directory holds
// the records of every other test's server.

describe('kmx ns graph --view', () => {
  it('opens the namespaces view of a running server of yours', async () => {
    await withUsers(1, async ([user]) => {
      const ui = await startUi({ user: user! });
      try {
        const r = await run('setpriv', [`--reuid=${user!.uid}`, `--regid=${user!.gid}`, '--init-groups', '--', process.execPath, kmxBin(), 'ns', 'graph', '--view'], {
          env: { PATH: process.env.PATH, HOME: user!.home }, timeoutMs: 30_000,
        });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `kmx ui: already running (pid ${ui.child.pid}): http://127.0.0.1:${ui.port}/ns?token=${ui.token}\n`);
      } finally {
        await ui.stop();
      }
    });
  });

  it('without one, starts kmx ui on the namespaces view, which stops with it', async () => {
    await withUsers(1, async ([user]) => {
      const child = spawn('setpriv', [`--reuid=${user!.uid}`, `--regid=${user!.gid}`, '--init-groups', '--', process.execPath, kmxBin(), 'ns', 'graph', '--view'], {
        env: { PATH: process.env.PATH, HOME: user!.home }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      try {
        for (let i = 0; i < 200 && !/serving on/.test(output); i++) await new Promise((r) => setTimeout(r, 100));
        assert.match(output, /^kmx ui: serving on http:\/\/127\.0\.0\.1:\d+\/ns\?token=[A-Za-z0-9_-]{43}\n/);
      } finally {
        await stopChild(child, 5000);
        await run('rm', ['-rf', `/tmp/kmx-${user!.uid}`]);
      }
      assert.equal(child.exitCode, 0, output);
      const left = await run('pgrep', ['-u', String(user!.uid)]);
      assert.equal(left.stdout.trim(), '', 'the server stopped with it');
    });
  });
});
