import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 bits: the brief asks for at least 128; base64url keeps it short in a URL. */
const SECRET_BYTES = 32;

/** A fresh random secret (the launch token, a session id), base64url. */
export function newSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/**
 * Whether `given` equals `expected`, in time that does not depend on where they differ. Both
 * are hashed first so that timingSafeEqual sees equal lengths whatever the caller sent.
 */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * The launch token (the capability in the printed URL) and the sessions it was exchanged for.
 * The token stays valid while the server runs, so that the URL can be opened again (by `kmx ui
 * --reuse`, or in a second browser): it is only ever accepted from a peer of the server's own
 * uid, and the redirect takes it out of the address bar and history at once.
 */
export class Credentials {
  readonly token = newSecret();
  private readonly sessions = new Set<string>();
  /** Enough for a few browsers; the oldest session goes first. */
  private static readonly MAX_SESSIONS = 32;

  tokenMatches(given: string): boolean {
    return sameSecret(given, this.token);
  }

  /** A new session id for a cookie. */
  openSession(): string {
    const id = newSecret();
    this.sessions.add(id);
    if (this.sessions.size > Credentials.MAX_SESSIONS) {
      const oldest = this.sessions.values().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    return id;
  }

  /** Whether `given` is a live session id (compared with every one in constant time). */
  sessionMatches(given: string): boolean {
    let found = false;
    for (const id of this.sessions) found = sameSecret(given, id) || found;
    return found;
  }
}
