import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kmxBin, run, temporaryDirectory } from '@kmx/core/testing';
import { withUsers } from './users.js';
import { startUi } from './ui-server.js';

// How kmx ui starts: xdg-open only on a desktop, and never with the token in its arguments;
// --reuse opens a running server of this user instead of starting another.

async function fakeOpener(dir: string): Promise<string> {
  const script = join(dir, 'xdg-open');
  await writeFile(script, `#!/bin/sh\nprintf '%s\\n' "$@" > '${join(dir, 'opened')}'\n`);
  await chmod(script, 0o755);
  return join(dir, 'opened');
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 100));
}

describe('kmx ui: launch', () => {
  it('on a desktop: xdg-open gets a private launch file, not the URL with its token', async () => {
    await temporaryDirectory(async (dir) => {
      const opened = await fakeOpener(dir);
      const ui = await startUi({ open: true, env: { DISPLAY: ':99', PATH: `${dir}:${process.env.PATH}` } });
      try {
        await until(async () => (await readFile(opened, 'utf8').catch(() => '')) !== '');
        const args = (await readFile(opened, 'utf8')).trim().split('\n');
        assert.equal(args.length, 1);
        assert.ok(!args[0]!.includes(ui.token), 'no token in the opener\'s arguments');
        const launch = await stat(args[0]!);
        assert.equal(launch.mode & 0o777, 0o600);
        assert.ok((await readFile(args[0]!, 'utf8')).includes(`url=${ui.url}`));
        assert.match(ui.output(), /opened in your browser/);
      } finally {
        await ui.stop();
      }
    });
  });

  it('without $DISPLAY or $WAYLAND_DISPLAY nothing is opened', async () => {
    await temporaryDirectory(async (dir) => {
      const opened = await fakeOpener(dir);
      const ui = await startUi({ open: true, env: { PATH: `${dir}:${process.env.PATH}` } });
      try {
        await new Promise((r) => setTimeout(r, 500));
        await assert.rejects(readFile(opened), /ENOENT/);
        assert.doesNotMatch(ui.output(), /opened/);
      } finally {
        await ui.stop();
      }
    });
  });

  it('--reuse prints the running server\'s URL for the view asked; once it stopped, starts another', async () => {
    // As a test user of its own: root's runtime directory holds the records of every other test's server.
    await withUsers(1, async ([user]) => {
      const first = await startUi({ user: user! });
      let stopped = false;
      try {
        const r = await run('setpriv', [`--reuid=${user!.uid}`, `--regid=${user!.gid}`, '--init-groups', '--', process.execPath, kmxBin(), 'ui', '--reuse', '--no-open', '--view', 'ns'], {
          env: { PATH: process.env.PATH, HOME: user!.home }, timeoutMs: 20_000,
        });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^kmx ui: already running \\(pid \\d+\\): http://127\\.0\\.0\\.1:${first.port}/ns\\?token=${first.token}\\n$`));
        await first.stop();
        stopped = true;
        const second = await startUi({ user: user!, args: ['--reuse'] });
        try {
          assert.notEqual(second.token, first.token);
          assert.match(second.output(), /serving on/);
        } finally {
          await second.stop();
        }
      } finally {
        if (!stopped) await first.stop();
      }
    });
  });
});
