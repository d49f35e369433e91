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


/** Signs in as `user` and makes each request in turn (same-origin JSON); resolves to their statuses and bodies. */
async function apiAs(user: TestUser, port: number, token: string, calls: Array<{ method?: string; path: string; body?: unknown }>): Promise<Array<{ status: number; body: unknown }>> {
  const script = `
    const http = require('node:http');
    const port = Number(process.env.PORT);
    const host = '127.0.0.1:' + port;
    const call = (method, path, headers, body) => new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, headers: { Host: host, ...headers }, agent: false }, (res) => {
        let text = ''; res.on('data', (d) => (text += d)); res.on('end', () => resolve({ res, text }));
      });
      req.on('error', reject); req.end(body);
    });
    (async () => {
      const signIn = await call('GET', '/?token=' + process.env.TOKEN, {});
      const cookie = String(signIn.res.headers['set-cookie'][0]).split(';')[0];
      const out = [];
      for (const c of JSON.parse(process.env.CALLS)) {
        const body = c.body === undefined ? undefined : JSON.stringify(c.body);
        const headers = { Cookie: cookie, ...(body === undefined ? {} : { Origin: 'http://' + host, 'Content-Type': 'application/json' }) };
        const { res, text } = await call(c.method || 'GET', c.path, headers, body);
        out.push({ status: res.statusCode, body: JSON.parse(text) });
      }
      console.log(JSON.stringify(out));
    })().catch((err) => { console.error(err.message); process.exit(1); });`;
  const r = await run('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', process.execPath, '-e', script], {
    env: { PATH: process.env.PATH, PORT: String(port), TOKEN: token, CALLS: JSON.stringify(calls) }, timeoutMs: 90_000,
  });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Array<{ status: number; body: unknown }>;
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
        await run('setpriv', [`--reuid=${alice!.uid}`, `--regid=${alice!.gid}`, '--init-groups', '--', 'mkdir', join(alice!.home, 'src'), join(alice!.home, 'view')]);
        const [session, mounts, graph, mount] = await apiAs(alice!, ui.port, ui.token, [
          { path: '/api/session' }, { path: '/api/mounts' }, { path: '/api/ns/graph' },
          { method: 'POST', path: '/api/mounts/passthrough', body: { source: join(alice!.home, 'src'), mountpoint: join(alice!.home, 'view') } },
        ]);
        assert.deepEqual(session!.body, { ...(session!.body as object), user: alice!.name, uid: alice!.uid });
        assert.equal(mounts!.status, 200);
        assert.equal(graph!.status, 200);
        // What alice may see, from the same discovery as kmx ns run by her.
        assert.ok((graph!.body as { nodes: unknown[] }).nodes.length > 0);
        // The mount runs as alice: here /dev/fuse is root's alone (0600), so it fails as it would at her shell.
        if (((await stat('/dev/fuse')).mode & 0o006) !== 0o006) {
          assert.equal(mount!.status, 400);
          assert.match((mount!.body as { error: string }).error, /\/dev\/fuse/);
        } else {
          assert.equal(mount!.status, 200, JSON.stringify(mount!.body));
          assert.equal((await apiAs(alice!, ui.port, ui.token, [{ method: 'POST', path: '/api/unmount', body: { mountpoint: join(alice!.home, 'view') } }]))[0]!.status, 200);
        }
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
