import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { KmxError, SysError } from '@kmx/core';
import { Credentials } from '../security/token.js';
import {
  cookieValue, fromAnotherSite, hostAllowed, originAllowed, sessionCookie, sessionCookieName, setSecurityHeaders, type Listening,
} from '../security/guard.js';
import { tcpPeerUid, unixPeerUid } from '../security/peer-uid.js';
import { listenOn, type ListenTarget } from './listen.js';
import { namespaceViewerDirectory, readAsset, webDirectory } from './assets.js';
import { ApiError, type ApiRoutes } from './routes.js';

/** The views the page has; each is also a path (/mounts, /ns, …) that serves the page. */
export const VIEWS = ['mounts', 'ns', 'procsys', 'backups'] as const;
export type View = (typeof VIEWS)[number];

export interface UiServerOptions {
  listen: ListenTarget;
  routes: ApiRoutes;
  /** One line per refused connection or failed request (never a request's body). */
  log?: (line: string) => void;
}

export interface UiServer {
  readonly listening: Listening;
  readonly token: string;
  /** The URL to open: the page, on `view`, with the launch token. */
  url(view?: View): string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

/**
 * Starts the server. Every connection is checked before HTTP sees it: its peer must be a
 * process of this server's own uid (SO_PEERCRED on a UNIX socket, /proc/net/tcp on loopback).
 * Then every request: Host, the session cookie (or the launch token, swapped for one), Origin.
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const credentials = new Credentials();
  const ownUid = process.getuid?.() ?? 0;
  const log = options.log ?? (() => undefined);
  // Known once bound; connections arrive only after that.
  const bound: { listening?: Listening } = {};

  const http = createHttpServer((request, response) => {
    void handle(request, response).catch((err: unknown) => {
      log(`request failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!response.headersSent) reply(response, 500, { error: 'internal error' });
      else response.destroy();
    });
  });
  http.headersTimeout = 10_000;
  http.requestTimeout = 120_000; // a mount through the page may take as long as the plugin's own timeout
  http.keepAliveTimeout = 5_000;

  const gate: Server = createNetServer({ pauseOnConnect: true }, (socket: Socket) => {
    admit(socket);
  });

  function admit(socket: Socket): void {
    socket.on('error', () => undefined);
    const uid = bound.listening?.kind === 'unix' ? unixPeerUid(socket) : tcpPeerUid(socket);
    if (uid !== ownUid) {
      log(`refused a connection from uid ${uid ?? 'unknown'}: this server serves uid ${ownUid} only`);
      socket.destroy();
      return;
    }
    http.emit('connection', socket);
    socket.resume();
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    setSecurityHeaders(response);
    const where = bound.listening!;
    const host = request.headers.host;
    if (!hostAllowed(host, where)) return reply(response, 421, { error: 'wrong Host header' });
    if (!originAllowed(request, host!)) return reply(response, 403, { error: 'cross-origin request refused' });
    const url = new URL(request.url ?? '/', `http://${host}`);
    const cookieName = sessionCookieName(where);
    const session = cookieValue(request.headers.cookie, cookieName);
    const token = url.searchParams.get('token');
    if (token !== null) {
      if (request.method !== 'GET' || !credentials.tokenMatches(token)) return page(response, 403, 'This link is not valid. Open the URL kmx ui printed.');
      // Swap the token for a cookie and take it out of the address bar (and so the history).
      // Only to a view of this page: never a path like //elsewhere that a browser reads as another host.
      const target = viewPath(url.pathname);
      response.setHeader('Set-Cookie', sessionCookie(cookieName, credentials.openSession()));
      response.setHeader('Cache-Control', 'no-store');
      // Came from another site (the launch file): after an HTTP redirect the browser would still
      // count the navigation as cross-site and hold back the Strict cookie, so this page moves
      // on by itself (a meta refresh, no script), which the browser counts as same-origin.
      if (fromAnotherSite(request)) return page(response, 200, 'Signing in…', target);
      response.setHeader('Location', target);
      response.writeHead(303).end();
      return;
    }
    if (session === undefined || !credentials.sessionMatches(session)) {
      return url.pathname.startsWith('/api/') ? reply(response, 401, { error: 'not signed in: open the URL kmx ui printed' }) : page(response, 401, 'Open the URL kmx ui printed (it carries the key).');
    }
    if (url.pathname.startsWith('/api/')) return api(request, response, url);
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, { error: 'method not allowed' });
    return asset(response, url.pathname);
  }

  async function api(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    response.setHeader('Cache-Control', 'no-store');
    const route = options.routes.find(request.method ?? 'GET', url.pathname);
    if (route === undefined) return reply(response, 404, { error: 'no such API' });
    let body: unknown = undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      // JSON only: a plain HTML form can send no such type, and fetch from elsewhere needs a preflight this server never grants.
      if (!/^application\/json(;|$)/.test(request.headers['content-type'] ?? '')) return reply(response, 415, { error: 'send application/json' });
      body = await readJson(request);
      if (body instanceof ApiError) return reply(response, body.status, { error: body.message });
    }
    try {
      const result = await route.handler({ params: route.params, query: url.searchParams, body });
      reply(response, 200, result);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : err instanceof KmxError || err instanceof SysError ? 400 : 500;
      if (status === 500) log(`${request.method} ${url.pathname}: ${err instanceof Error ? err.message : String(err)}`);
      const error = status === 500 ? 'internal error (see the kmx ui output)' : (err as Error).message;
      const hint = (err as { hint?: unknown }).hint;
      reply(response, status, { error, ...(typeof hint === 'string' && status !== 500 ? { hint } : {}) });
    }
  }

  async function asset(response: ServerResponse, path: string): Promise<void> {
    const view = path === '/' ? 'mounts' : path.slice(1);
    if ((VIEWS as readonly string[]).includes(view)) return file(response, await readAsset(webDirectory(), 'index.html'), 'no-store');
    const own = /^\/assets\/([^/]+)$/.exec(path);
    if (own) return file(response, await readAsset(webDirectory(), own[1]!));
    const ns = /^\/assets\/ns\/([^/]+)$/.exec(path);
    if (ns) return file(response, await readAsset(namespaceViewerDirectory(), ns[1]!));
    reply(response, 404, { error: 'not found' });
  }

  function file(response: ServerResponse, found: { body: Buffer; type: string } | undefined, cache = 'no-cache'): void {
    if (!found) return reply(response, 404, { error: 'not found' });
    response.writeHead(200, { 'Content-Type': found.type, 'Content-Length': found.body.length, 'Cache-Control': cache });
    response.end(found.body);
  }

  const listening = await listenOn(gate, options.listen);
  bound.listening = listening;
  const base = listening.kind === 'tcp' ? `http://127.0.0.1:${listening.port}` : 'http://localhost';
  return {
    listening,
    token: credentials.token,
    url: (view: View = 'mounts') => `${base}/${view === 'mounts' ? '' : view}?token=${credentials.token}`,
    async close() {
      await new Promise<void>((resolve) => gate.close(() => resolve()));
      http.closeAllConnections();
    },
  };
}

/** The path of the view `path` names, '/' for anything else. */
function viewPath(path: string): string {
  const view = VIEWS.find((v) => path === `/${v}`);
  return view === undefined || view === 'mounts' ? '/' : `/${view}`;
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (status === 413) response.shouldKeepAlive = false;
  const text = JSON.stringify(body ?? null);
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  response.end(text);
}

/** A short page (no script, nothing of the user's); `next`: a same-origin path to move on to. */
function page(response: ServerResponse, status: number, message: string, next?: string): void {
  const refresh = next === undefined ? '' : `<meta http-equiv="refresh" content="0;url=${next}">`;
  const text = `<!doctype html><meta charset="utf-8">${refresh}<link rel="icon" href="data:,"><title>kmx ui</title><p>${message}</p>\n`;
  response.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  response.end(text);
}

function readJson(request: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        // Answer, then close the connection rather than read the rest.
        request.pause();
        request.removeAllListeners('data');
        resolve(new ApiError(413, 'request too large'));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        resolve(new ApiError(400, 'the body is not JSON'));
      }
    });
    request.on('error', () => resolve(new ApiError(400, 'the request broke off')));
  });
}
