import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run, temporaryDirectory, type TestUser } from '@kmx/core/testing';
import { withUsers } from './users.js';
import { httpRequest, signIn, startUi } from './ui-server.js';

// A second user on the machine: with the right token, Host and cookie, they still cannot use
// someone else's server (their connection is refused by uid, before HTTP). An ordinary user's
// own server works for them and acts as them, and refuses root.

/** Runs an HTTP GET as `user` (setpriv execs node directly); resolves to "STATUS" or "ERROR code". */
async function getAs(user: TestUser, target: { port?: number; socketPath?: string }, path: string, headers: Record<string, string>): Promise<string> {
  const script = `
    const http = require('node:http');
    const target = JSON.parse(process.env.TARGET);
    const req = http.request({ host: '127.0.0.1', ...target, path: process.env.REQ_PATH, headers: JSON.parse(process.env.HEADERS), setHost: false, agent: false }, (res) => {
      console.log(String(res.statusCode)); res.resume();
    });
    req.on('error', (err) => console.log('ERROR ' + (err.code || err.message)));
    req.end();`;
  const r = await run('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', process.execPath, '-e', script], {
    env: { PATH: process.env.PATH, TARGET: JSON.stringify(target), REQ_PATH: path, HEADERS: JSON.stringify(headers) }, timeoutMs: 20_000,
  });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe('kmx ui: other users', () => {
  it('another user cannot use root\'s server, even with its token and cookie', async () => {
    await withUsers(1, async ([mallory]) => {
      const ui = await startUi();
      try {
        const host = `127.0.0.1:${ui.port}`;
        const cookie = await signIn(ui);
        assert.match(await getAs(mallory!, { port: ui.port }, `/?token=${ui.token}`, { Host: host }), /^ERROR (ECONNRESET|EPIPE)|socket hang up/);
        assert.match(await getAs(mallory!, { port: ui.port }, '/api/session', { Host: host, Cookie: cookie }), /^ERROR (ECONNRESET|EPIPE)|socket hang up/);
        assert.match(ui.output(), new RegExp(`refused a connection from uid ${mallory!.uid}`));
        // root itself still gets in
        assert.equal((await httpRequest({ port: ui.port }, { path: '/api/session', headers: { Host: host, Cookie: cookie } })).status, 200);
      } finally {
        await ui.stop();
      }
    });
  });

  it('an ordinary user\'s server acts as that user, serves them, and refuses root', async () => {
    await withUsers(1, async ([alice]) => {
      const ui = await startUi({ user: alice! });
      try {
        const host = `127.0.0.1:${ui.port}`;
        const status = await getAs(alice!, { port: ui.port }, `/?token=${ui.token}`, { Host: host });
        assert.equal(status, '303');
        // root holds the token too, but is not the server's uid
        await assert.rejects(httpRequest({ port: ui.port }, { path: `/?token=${ui.token}`, headers: { Host: host } }), /ECONNRESET|socket hang up|EPIPE/);
        assert.match(ui.output(), /refused a connection from uid 0/);
      } finally {
        await ui.stop();
      }
    });
  });

  it('on a UNIX socket: made 0600, the owner gets in, SO_PEERCRED keeps another uid out', async () => {
    await withUsers(1, async ([bob]) => {
      await temporaryDirectory(async (dir) => {
        await run('chmod', ['0755', dir]);
        await run('chown', [`${bob!.uid}:${bob!.gid}`, dir]);
        const socketPath = join(dir, 'ui.sock');
        const ui = await startUi({ user: bob!, args: ['--socket', socketPath] });
        try {
          const info = await stat(socketPath);
          assert.ok(info.isSocket());
          assert.equal(info.mode & 0o777, 0o600);
          assert.equal(info.uid, bob!.uid);
          assert.match(ui.url, /^http:\/\/localhost\/\?token=/);
          assert.equal(await getAs(bob!, { socketPath }, `/?token=${ui.token}`, { Host: 'localhost' }), '303');
          // root may open any socket file; the server still refuses it by its credentials
          await assert.rejects(httpRequest({ socketPath }, { path: `/?token=${ui.token}`, headers: { Host: 'localhost' } }), /ECONNRESET|socket hang up|EPIPE/);
        } finally {
          await ui.stop();
        }
        await assert.rejects(stat(socketPath), /ENOENT/, 'the socket is removed when the server stops');
      });
    });
  });
});
