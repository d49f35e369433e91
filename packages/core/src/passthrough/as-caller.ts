import { readFileSync } from 'node:fs';
import { setfsgid, setfsuid, setThreadGroups, threadGroups } from '../libc/identity.js';
import type { Caller } from '../fuse/types.js';

const GROUPS_TTL_MS = 1000;

/**
 * Runs a synchronous file-creating call with the caller's file-system identity, so new files,
 * directories, links and nodes get the caller's owner and the group the kernel would give
 * them (the setgid-directory rule included), and the backing filesystem checks permissions
 * as it would for the caller.
 *
 * Only for a server running as root, and only around synchronous calls: fsuid, fsgid and
 * the raw setgroups are per thread, and Node's *Sync fs calls run on this, the main thread.
 * The libuv pool threads keep root's identity untouched.
 */
export class AsCaller {
  private readonly enabled = process.getuid?.() === 0;
  private readonly ownGroups: number[] = this.enabled ? threadGroups() : [];
  private readonly groupCache = new Map<string, { groups: number[]; until: number }>();

  run<T>(caller: Caller, call: () => T): T {
    if (!this.enabled || caller.uid === 0) return call();
    setThreadGroups(this.groupsOf(caller));
    setfsgid(caller.gid);
    setfsuid(caller.uid);
    try {
      return call();
    } finally {
      setfsuid(0);
      setfsgid(0);
      setThreadGroups(this.ownGroups);
    }
  }

  /** The caller's supplementary groups, from /proc (briefly cached per pid). */
  private groupsOf(caller: Caller): number[] {
    const now = Date.now();
    const key = `${caller.pid}:${caller.uid}`;
    const cached = this.groupCache.get(key);
    if (cached && cached.until > now) return cached.groups;
    let groups = [caller.gid];
    try {
      const status = readFileSync(`/proc/${caller.pid}/status`, 'utf8');
      const line = /^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '';
      groups = line.split(/\s+/).filter(Boolean).map(Number);
    } catch {
      // the caller is gone or hidden: its primary group alone
    }
    if (this.groupCache.size > 1024) this.groupCache.clear();
    this.groupCache.set(key, { groups, until: now + GROUPS_TTL_MS });
    return groups;
  }
}
