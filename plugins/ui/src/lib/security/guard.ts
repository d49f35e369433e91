import type { IncomingMessage, ServerResponse } from 'node:http';

/** Where the server listens: decides which Host and Origin values are its own. */
export type Listening = { kind: 'tcp'; port: number } | { kind: 'unix'; path: string };

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost'];

/**
 * Whether a Host header names this server. On TCP: exactly 127.0.0.1:PORT or localhost:PORT,
 * so that a page on a name an attacker controls (DNS rebinding to 127.0.0.1) is refused. On a
 * UNIX socket the port is whatever a forwarder listens on, so any port is taken, but still only
 * a loopback name: a rebound name is never one of them.
 */
export function hostAllowed(host: string | undefined, listening: Listening): boolean {
  if (host === undefined) return false;
  if (listening.kind === 'tcp') return LOOPBACK_NAMES.some((name) => host === `${name}:${listening.port}`);
  const match = /^([^:]+)(?::(\d{1,5}))?$/.exec(host);
  return match !== null && LOOPBACK_NAMES.includes(match[1]!);
}

/** The origin a page served under `host` has (Host is checked first). */
export function ownOrigin(host: string): string {
  return `http://${host}`;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * Whether a request's origin is acceptable: an Origin header, when present, must be ours; a
 * request that changes state must carry it (browsers always send it with POST, DELETE, …), so
 * that a form posted from another site or a request from a tool without one is refused.
 * Sec-Fetch-Site, when the browser sends it, must not say cross-site.
 */
export function originAllowed(request: IncomingMessage, host: string): boolean {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== ownOrigin(host)) return false;
  if (!SAFE_METHODS.has(request.method ?? '')) return origin !== undefined && sameOriginFetch(request);
  // A page of another site may send the browser here (the launch file xdg-open gets is a
  // file:// page): harmless, as the SameSite=Strict cookie does not come along, so such a
  // navigation reaches nothing but the sign-in with the token. Everything else is ours alone.
  return isNavigation(request) || sameOriginFetch(request);
}

function sameOriginFetch(request: IncomingMessage): boolean {
  const site = request.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

/** A top-level GET navigation (a link followed, a URL typed), as the browser marks it. */
export function isNavigation(request: IncomingMessage): boolean {
  return request.method === 'GET' && request.headers['sec-fetch-mode'] === 'navigate' && request.headers['sec-fetch-dest'] === 'document';
}

/** Whether the browser came here from another site (then a SameSite=Strict cookie is not sent, even after a redirect). */
export function fromAnotherSite(request: IncomingMessage): boolean {
  const site = request.headers['sec-fetch-site'];
  return site === 'cross-site' || site === 'same-site';
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers on every response, errors included. No Access-Control-* header is ever sent. */
export function setSecurityHeaders(response: ServerResponse): void {
  response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

/** The value of cookie `name` in a Cookie header, if present. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The session cookie's name, with the port in it: browsers send 127.0.0.1's cookies to every
 * port, and two servers (two users, or one user's two) must not overwrite each other's.
 */
export function sessionCookieName(listening: Listening): string {
  return listening.kind === 'tcp' ? `kmx_ui_${listening.port}` : 'kmx_ui_socket';
}

export function sessionCookie(name: string, value: string): string {
  return `${name}=${value}; HttpOnly; SameSite=Strict; Path=/`;
}
