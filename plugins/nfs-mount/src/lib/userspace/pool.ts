import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { SysError, type Caller } from '@kmx/core';
import type { NfsClient } from './client.js';
import { AUTH_SYS_MAX_GROUPS, type Credential } from './driver.js';

// A shared mount (-o allow_other) sends each request as its caller, as the kernel's client does
// (AUTH_SYS: uid, gid and up to 16 supplementary groups), so that the server checks what that
// user may do and new files belong to that user. libnfs 4.0 fixes a context's credentials when
// it queues each RPC, and one operation is several RPCs queued from inside libnfs, so
// credentials cannot change per call on a shared context: each user gets a client of its own
// (a connection, and on NFSv4 a client and open-owner of its own), in a bounded pool.

/** Clients besides the mount's own, at most. */
export const MAX_CALLER_CLIENTS = 32;
/** A caller's client with no open file and no call for this long is closed. */
const IDLE_MS = 30_000;
/** How long a process's groups are trusted before /proc is read again. */
const GROUPS_TTL_MS = 2_000;

export function credentialKey(c: Credential): string {
  return `${c.uid}:${c.gid}:${c.groups.slice(0, AUTH_SYS_MAX_GROUPS).join(',')}`;
}

/** This process's own credential: what a mount that is not shared sends. */
export function ownCredential(): Credential {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return { uid, gid, groups: [...new Set(process.getgroups?.() ?? [])].filter((g) => g !== gid).slice(0, AUTH_SYS_MAX_GROUPS) };
}

/**
 * The NFSv4 client name of the mount's client for `credential`: unique to this process and mount,
 * the same across reconnections and fresh starts (connection.ts renew).
 */
export function clientNamer(): (credential: Credential) => string {
  const nonce = randomBytes(6).toString('hex');
  const host = hostname().slice(0, 64);
  return (credential) => `kmx ${host} ${process.pid} ${nonce} ${createHash('sha256').update(credentialKey(credential)).digest('hex').slice(0, 16)}`;
}

/** Parses the Uid:, Gid: and Groups: lines of /proc/PID/status. */
export function parseStatus(status: string): { fsuid: number; fsgid: number; groups: number[] } | undefined {
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\t?(.*)$`, 'm').exec(status)?.[1];
  const uids = field('Uid')?.trim().split(/\s+/).map(Number);
  const gids = field('Gid')?.trim().split(/\s+/).map(Number);
  const groups = field('Groups')?.trim().split(/\s+/).filter((g) => g !== '').map(Number);
  if (!uids || uids.length < 4 || !gids || gids.length < 4 || !groups || groups.some((g) => !Number.isInteger(g))) return undefined;
  return { fsuid: uids[3]!, fsgid: gids[3]!, groups };
}

/**
 * Who a FUSE request comes from: its uid and gid (the kernel's fsuid and fsgid) and the calling
 * thread's supplementary groups, read from /proc (FUSE does not send them). A thread whose
 * fsuid or fsgid no longer match (it changed them, or its pid went to another process) counts
 * with no groups. The groups AUTH_SYS carries exclude the gid, as the kernel's client sends them.
 */
export class CallerCredentials {
  private readonly cache = new Map<number, { at: number; status: ReturnType<typeof parseStatus> }>();

  async of(caller: Caller): Promise<Credential> {
    let groups: number[] = [];
    if (caller.pid > 0) {
      let entry = this.cache.get(caller.pid);
      if (!entry || Date.now() - entry.at > GROUPS_TTL_MS) {
        if (this.cache.size > 1024) this.cache.clear();
        const status = await readFile(`/proc/${caller.pid}/status`, 'utf8').then(parseStatus, () => undefined);
        entry = { at: Date.now(), status };
        this.cache.set(caller.pid, entry);
      }
      const s = entry.status;
      if (s && s.fsuid === caller.uid && s.fsgid === caller.gid) groups = s.groups;
    }
    return { uid: caller.uid, gid: caller.gid, groups: [...new Set(groups)].filter((g) => g !== caller.gid).slice(0, AUTH_SYS_MAX_GROUPS) };
  }
}

interface Pooled {
  client: Promise<NfsClient>;
  lastUsed: number;
}

/**
 * The mount's clients: its own (the mounting user's, which reports the connection's state), and
 * one per other caller of a shared mount, made on first use and closed once idle. At most
 * MAX_CALLER_CLIENTS of those: past that, the least recently used idle one goes, and with none
 * idle a new caller gets EUSERS.
 */
export class NfsClients {
  private readonly others = new Map<string, Pooled>();
  private readonly reaper: NodeJS.Timeout;
  private closed = false;

  constructor(readonly own: NfsClient, private readonly ownKey: string, private readonly connect: (credential: Credential) => Promise<NfsClient>) {
    this.reaper = setInterval(() => void this.reap(), IDLE_MS / 3);
    this.reaper.unref();
  }

  get protocol(): NfsClient['protocol'] {
    return this.own.protocol;
  }

  /** How many callers' clients there are now (not counting the mount's own). */
  get size(): number {
    return this.others.size;
  }

  /** The client that sends as `credential` (the mount's own when it is the mount's user). */
  async for(credential: Credential): Promise<NfsClient> {
    const key = credentialKey(credential);
    if (key === this.ownKey) return this.own;
    if (this.closed) throw SysError.of('EIO', 'nfs', undefined, { detail: 'the mount is closing' });
    const known = this.others.get(key);
    if (known) {
      known.lastUsed = Date.now();
      return known.client;
    }
    if (this.others.size >= MAX_CALLER_CLIENTS && !(await this.evictOne())) {
      throw SysError.of('EUSERS', 'nfs', undefined, { detail: `${MAX_CALLER_CLIENTS} other users have files open on this mount already` });
    }
    const client = this.connect(credential);
    const pooled: Pooled = { client, lastUsed: Date.now() };
    this.others.set(key, pooled);
    client.catch(() => {
      if (this.others.get(key) === pooled) this.others.delete(key); // the next request tries again
    });
    return client;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.reaper);
    this.own.close();
    for (const pooled of this.others.values()) void pooled.client.then((c) => c.close(), () => undefined);
    this.others.clear();
  }

  /** Closes the least recently used idle caller's client; false if every one is busy. */
  private async evictOne(): Promise<boolean> {
    const byAge = [...this.others.entries()].sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [key, pooled] of byAge) {
      const client = await pooled.client.catch(() => undefined);
      if (client?.busy) continue;
      if (this.others.get(key) !== pooled) continue;
      this.others.delete(key);
      client?.close();
      return true;
    }
    return false;
  }

  private async reap(): Promise<void> {
    for (const [key, pooled] of [...this.others]) {
      if (Date.now() - pooled.lastUsed < IDLE_MS) continue;
      const client = await pooled.client.catch(() => undefined);
      if (client?.busy || this.others.get(key) !== pooled || Date.now() - pooled.lastUsed < IDLE_MS) continue;
      this.others.delete(key);
      client?.close();
    }
  }
}
