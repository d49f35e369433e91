import { readFileSync } from 'node:fs';
import { errnoOf, parseMountinfo, type MountHelper, type MountInfo, type MountNamespaceHold } from '@kmx/core';
import { parseNamespaceLink } from '../nsfs/types.js';
import type { Findings, OpenCandidate } from './findings.js';
import type { NamespaceRecord } from './model.js';

// The bind-mount route: nsfs mounts in the mount table of every mount namespace found so far,
// which may reveal more mount namespaces, and so on. A namespace with a process (or thread) is
// read through /proc; one without is read by core's helper process, never by entering it here.

/** Helpers parked in process-less mount namespaces, released when discovery ends. */
export class MountNamespaceHolds {
  private readonly holds = new Map<number, Promise<MountNamespaceHold>>();

  constructor(private readonly helper: MountHelper) {}

  /** `/proc/PID/root` of a helper parked in the namespace (one per namespace). */
  async rootOf(mountNamespace: number, nsPath: string): Promise<string> {
    let hold = this.holds.get(mountNamespace);
    if (!hold) {
      hold = this.helper.holdMountNamespace(nsPath);
      this.holds.set(mountNamespace, hold);
    }
    return (await hold).root;
  }

  async releaseAll(): Promise<void> {
    const all = [...this.holds.values()];
    this.holds.clear();
    await Promise.all(all.map((h) => h.then((hold) => hold.release(), () => undefined)));
  }
}

interface MountTable {
  mounts: MountInfo[];
  /** How a path in that namespace is reached from here. */
  pathOf: (mountpoint: string) => OpenCandidate;
}

const ENOENT = 2;
const ESRCH = 3;

/** Through a member process or thread: /proc/…/mountinfo and /proc/…/root. */
function readThroughProc(findings: Findings, record: NamespaceRecord): MountTable | undefined {
  const bases = [
    ...record.processes.map((pid) => `/proc/${pid}`),
    ...record.threads.map((t) => `/proc/${t.pid}/task/${t.tid}`),
  ];
  let lastError: unknown;
  for (const base of bases) {
    try {
      const mounts = parseMountinfo(readFileSync(`${base}/mountinfo`, 'utf8'));
      return { mounts, pathOf: (mountpoint) => `${base}/root${mountpoint}` };
    } catch (err) {
      const errno = errnoOf(err);
      if (errno !== ENOENT && errno !== ESRCH) lastError = err; // gone: try the next member
    }
  }
  if (lastError !== undefined) findings.cannot('mount table', `mnt:[${record.inode}]`, lastError);
  return undefined;
}

/** Through the helper, for a namespace that only an fd or a bind mount keeps alive. */
async function readThroughHelper(findings: Findings, record: NamespaceRecord, helper: MountHelper, holds: MountNamespaceHolds): Promise<MountTable | undefined> {
  let lastError: unknown;
  for (const candidate of findings.candidatesOf(record.inode)) {
    try {
      const nsPath = typeof candidate === 'string' ? candidate : await candidate();
      const mounts = await helper.readMountinfoOfNamespace(nsPath);
      return { mounts, pathOf: (mountpoint) => async () => `${await holds.rootOf(record.inode, nsPath)}${mountpoint}` };
    } catch (err) {
      lastError = err;
    }
  }
  if (lastError !== undefined) findings.cannot('mount table', `mnt:[${record.inode}]`, lastError);
  return undefined;
}

/**
 * True when a lookup of the mount's path would cross a FUSE filesystem: opening it could wait
 * forever on a hung server, so such bind mounts are listed but not opened.
 */
function belowFuse(mount: MountInfo, byId: ReadonlyMap<number, MountInfo>): boolean {
  const seen = new Set<number>();
  for (let m = byId.get(mount.parentId); m && !seen.has(m.mountId); m = byId.get(m.parentId)) {
    seen.add(m.mountId);
    if (m.fstype === 'fuse' || m.fstype.startsWith('fuse.')) return true;
  }
  return false;
}

async function scanMountTable(findings: Findings, record: NamespaceRecord, helper: MountHelper, holds: MountNamespaceHolds): Promise<void> {
  const viaProc = record.processes.length > 0 || record.threads.length > 0;
  const table = viaProc ? readThroughProc(findings, record) : await readThroughHelper(findings, record, helper, holds);
  if (!table) return;
  const byId = new Map(table.mounts.map((m) => [m.mountId, m]));
  for (const mount of table.mounts) {
    if (mount.fstype !== 'nsfs') continue;
    const ns = parseNamespaceLink(mount.root);
    if (!ns) continue;
    const openBy = belowFuse(mount, byId) ? undefined : table.pathOf(mount.mountpoint);
    findings.found(ns.type, ns.inode, 'bind-mount', openBy).bindMounts.push({ mountNamespace: record.inode, mountpoint: mount.mountpoint });
  }
}

/** Reads the mount table of every mount namespace, including those its bind mounts reveal. */
export async function scanBindMounts(findings: Findings, helper: MountHelper, holds: MountNamespaceHolds): Promise<void> {
  const done = new Set<number>();
  for (;;) {
    const pending = [...findings.namespaces.values()].filter((r) => r.type === 'mnt' && !done.has(r.inode));
    if (pending.length === 0) return;
    for (const record of pending) {
      done.add(record.inode);
      await scanMountTable(findings, record, helper, holds);
    }
  }
}
