import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { httpRequest, signIn, startUi, type Reply, type RunningUi } from './ui-server.js';

// The server as an attacker meets it, with plain HTTP requests: no token, a wrong one, forged
// cookies, a foreign Origin, a rebound Host, cross-site form posts, paths out of the assets.

function noCors(reply: Reply): void {
  for (const name of Object.keys(reply.headers)) assert.ok(!name.startsWith('access-control-'), `CORS header ${name} sent`);
}

function hardened(reply: Reply): void {
  noCors(reply);
  const csp = String(reply.headers['content-security-policy']);
  for (const part of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) assert.ok(csp.includes(part), `CSP lacks ${part}: ${csp}`);
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
  assert.equal(reply.headers['x-content-type-options'], 'nosniff');
  assert.equal(reply.headers['referrer-policy'], 'no-referrer');
}

describe('kmx ui: security', () => {
  let ui: RunningUi;
  let host: string;
  let origin: string;
  let cookie: string;
  const get = (path: string, headers: Record<string, string> = {}): Promise<Reply> => httpRequest({ port: ui.port }, { path, headers: { Host: host, ...headers } });
  const post = (path: string, headers: Record<string, string>, body = '{}'): Promise<Reply> => httpRequest({ port: ui.port }, { method: 'POST', path, headers: { Host: host, ...headers }, body });

  before(async () => {
    ui = await startUi();
    host = `127.0.0.1:${ui.port}`;
    origin = `http://${host}`;
    cookie = await signIn(ui);
  });
  after(async () => {
    await ui?.stop();
  });

  it('listens on loopback only, with a token of at least 128 bits', () => {
    assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+$/);
    assert.ok(Buffer.from(ui.token, 'base64url').length >= 16);
  });

  it('without a token or cookie: nothing but a page saying so', async () => {
    for (const path of ['/', '/ns', '/assets/app.js', '/api/mounts', '/api/session']) {
      const reply = await get(path);
      assert.equal(reply.status, 401, path);
      assert.equal(reply.headers['set-cookie'], undefined);
      hardened(reply);
    }
  });

  it('a wrong token: refused, no cookie', async () => {
    const wrong = ui.token.slice(0, -1) + (ui.token.endsWith('A') ? 'B' : 'A');
    for (const token of [wrong, '', 'x', `${ui.token}x`]) {
      const reply = await get(`/?token=${encodeURIComponent(token)}`);
      assert.equal(reply.status, 403, token);
      assert.equal(reply.headers['set-cookie'], undefined);
    }
  });

  it('the token is swapped for an HttpOnly SameSite=Strict cookie, and the redirect drops it from the URL', async () => {
    const reply = await get(`/ns?token=${ui.token}`);
    assert.equal(reply.status, 303);
    assert.equal(reply.headers.location, '/ns');
    const set = reply.headers['set-cookie']?.[0] ?? '';
    assert.match(set, /^kmx_ui_\d+=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/$/);
    assert.equal(reply.headers['cache-control'], 'no-store');
    assert.notEqual(set.split(';')[0], cookie, 'each exchange opens its own session');
    const page = await get('/ns', { Cookie: set.split(';')[0]! });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    hardened(page);
    assert.ok(!/<script>/.test(page.body) && !/ on[a-z]+=/.test(page.body), 'no inline script in the page');
  });

  it('arriving from another site (the launch file): the cookie comes with a page that moves on by itself; other cross-site requests are refused', async () => {
    const navigation = { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document' };
    const reply = await get(`/ns?token=${ui.token}`, navigation);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.location, undefined);
    assert.match(reply.headers['set-cookie']?.[0] ?? '', /; HttpOnly; SameSite=Strict; Path=\/$/);
    assert.match(reply.body, /<meta http-equiv="refresh" content="0;url=\/ns">/);
    assert.ok(!reply.body.includes(ui.token) && !reply.body.includes('<script'));
    hardened(reply);
    assert.equal((await get(`/?token=${ui.token}x`, navigation)).status, 403);
    for (const mode of ['cors', 'no-cors', 'same-origin']) {
      assert.equal((await get('/api/session', { Cookie: cookie, 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': mode, 'Sec-Fetch-Dest': 'empty' })).status, 403, mode);
    }
    assert.equal((await get('/assets/app.js', { Cookie: cookie, 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'script' })).status, 403);
  });

  it('the redirect goes only to a view of the page, never elsewhere', async () => {
    for (const [path, location] of [['//evil.example/?token=T', '/'], ['/procsys?token=T&next=//evil.example', '/procsys'], ['/nope?token=T', '/'], ['/%2F%2Fevil.example?token=T', '/']]) {
      const reply = await get(path!.replace('T', ui.token));
      assert.equal(reply.status, 303, path);
      assert.equal(reply.headers.location, location, path);
    }
  });

  it('a forged or foreign cookie is no session', async () => {
    const [name] = cookie.split('=');
    for (const forged of [`${name}=${'A'.repeat(43)}`, `kmx_ui_1=${cookie.split('=')[1]}`, `${name}=`]) {
      assert.equal((await get('/api/mounts', { Cookie: forged })).status, 401, forged);
    }
  });

  it('the API with a session: JSON, no-store, the security headers, no CORS', async () => {
    const reply = await get('/api/session', { Cookie: cookie });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['cache-control'], 'no-store');
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    hardened(reply);
    assert.equal((JSON.parse(reply.body) as { uid: number }).uid, process.getuid!());
  });

  it('DNS rebinding: any Host but 127.0.0.1:PORT or localhost:PORT is refused, with or without a session', async () => {
    for (const bad of [`evil.example:${ui.port}`, 'evil.example', `127.0.0.1:${ui.port + 1}`, '127.0.0.1', `localhost.evil.example:${ui.port}`, `127.0.0.1:${ui.port}.evil.example`, `[::1]:${ui.port}`]) {
      for (const path of [`/?token=${ui.token}`, '/api/session']) {
        const reply = await httpRequest({ port: ui.port }, { path, headers: { Host: bad, Cookie: cookie } });
        assert.equal(reply.status, 421, `${bad} ${path}`);
        assert.equal(reply.headers['set-cookie'], undefined);
      }
    }
    assert.equal((await httpRequest({ port: ui.port }, { path: '/api/session', headers: { Host: `localhost:${ui.port}`, Cookie: cookie } })).status, 200);
  });

  it('a foreign Origin is refused, even on GET and with a valid session', async () => {
    for (const bad of ['http://evil.example', `http://localhost:${ui.port}`, `http://127.0.0.1:${ui.port + 1}`, 'null']) {
      assert.equal((await get('/api/session', { Cookie: cookie, Origin: bad })).status, 403, bad);
      assert.equal((await post('/api/unmount', { Cookie: cookie, Origin: bad, 'Content-Type': 'application/json' }, '{"mountpoint":"/nonexistent"}')).status, 403, bad);
    }
    assert.equal((await get('/api/session', { Cookie: cookie, 'Sec-Fetch-Site': 'cross-site' })).status, 403);
  });

  it('a state change without an Origin is refused', async () => {
    const reply = await post('/api/unmount', { Cookie: cookie, 'Content-Type': 'application/json' }, '{"mountpoint":"/nonexistent"}');
    assert.equal(reply.status, 403);
    const options = await httpRequest({ port: ui.port }, { method: 'OPTIONS', path: '/api/unmount', headers: { Host: host, Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(options.status, 403);
    noCors(options);
  });

  it('CSRF: a cross-site form post (urlencoded, multipart, text/plain) never reaches a handler', async () => {
    // A browser sends the cookie only same-site (SameSite=Strict); even so, the server refuses the Origin, then the type.
    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
      assert.equal((await post('/api/mounts/passthrough', { Cookie: cookie, Origin: 'http://evil.example', 'Content-Type': type }, 'source=/&mountpoint=/tmp')).status, 403, type);
      assert.equal((await post('/api/mounts/passthrough', { Cookie: cookie, Origin: origin, 'Content-Type': type }, 'source=/&mountpoint=/tmp')).status, 415, type);
    }
    const noSession = await post('/api/unmount', { Origin: origin, 'Content-Type': 'application/json' }, '{"mountpoint":"/nonexistent"}');
    assert.equal(noSession.status, 401);
  });

  it('a same-origin JSON request with a session reaches the handler (and gets a one-line error)', async () => {
    const reply = await post('/api/unmount', { Cookie: cookie, Origin: origin, 'Content-Type': 'application/json' }, '{"mountpoint":"/nonexistent"}');
    assert.equal(reply.status, 400);
    assert.match((JSON.parse(reply.body) as { error: string }).error, /is not a mount point/);
    assert.equal((await post('/api/unmount', { Cookie: cookie, Origin: origin, 'Content-Type': 'application/json' }, '{"mountpoint":')).status, 400);
    assert.equal((await post('/api/unmount', { Cookie: cookie, Origin: origin, 'Content-Type': 'application/json' }, 'x'.repeat(70_000))).status, 413);
  });

  it('the namespace API: the model, a node\'s details, one-line errors for an unknown type or node', async () => {
    const graph = await get('/api/ns/graph?type=net', { Cookie: cookie });
    assert.equal(graph.status, 200);
    const model = JSON.parse(graph.body) as { nodes: Array<{ id: string; kind: string; type: string }> };
    const net = model.nodes.find((n) => n.kind === 'namespace');
    assert.equal(net?.type, 'net');
    const details = await get(`/api/ns/details/${net!.id}`, { Cookie: cookie });
    assert.equal(details.status, 200);
    assert.equal((JSON.parse(details.body) as { type: string }).type, 'net');
    const badType = await get('/api/ns/graph?type=bogus', { Cookie: cookie });
    assert.equal(badType.status, 400);
    assert.match((JSON.parse(badType.body) as { error: string }).error, /^unknown namespace type "bogus"$/);
    assert.equal((await get('/api/ns/details/ns1', { Cookie: cookie })).status, 404);
  });

  it('path traversal in asset URLs finds nothing outside the assets', async () => {
    assert.equal((await get('/assets/app.js', { Cookie: cookie })).status, 200);
    for (const path of [
      '/assets/../package.json', '/assets/..%2fpackage.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/..%2F..%2F..%2Fpackage.json',
      '/assets/ns/..%2F..%2Fpackage.json', '/assets/ns/../../package.json', '/assets/%2e%2e%2f%2e%2e%2fpackage.json', '/assets/app.js%00.css',
      '/assets/.tsbuildinfo', '/assets/index.html/..', '/../../../../etc/passwd', '/assets//etc/passwd', '/assets/%5c..%5cpackage.json', '/assets/ns/%2e%2e',
    ]) {
      const reply = await get(path, { Cookie: cookie });
      assert.equal(reply.status, 404, path);
      assert.ok(!reply.body.includes('"name"') && !reply.body.includes('root:'), path);
    }
  });
});
