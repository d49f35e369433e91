import * as fs from 'node:fs';
import { SysError } from '@kmx/core';

/** Where `kmx procsys run` mounts a real procfs beside the view, in its private namespace. */
export const REAL_PROC_IN_RUN = '/run/kmx/realproc';

const PROC_SUPER_MAGIC = 0x9fa0;
const TTL_MS = 2000;

interface Cached<T> {
  value: T;
  at: number;
}

/**
 * Who is asking, as /proc itself would see it. FUSE tells each request's caller as the
 * calling thread's id; `self` must name its thread group (the process), `thread-self` both.
 * Answers are kept for a short while: a tool walks `self` many times in a row.
 */
export class Callers {
  private readonly groups = new Map<number, Cached<number>>();
  private readonly runNamespaces = new Map<string, Cached<boolean>>();

  constructor(private readonly proc = '/proc') {}

  /** The process (thread group) of thread `tid`; ENOENT when the caller is unknown (pid 0) or gone. */
  processOf(tid: number): number {
    if (tid <= 0) throw SysError.of('ENOENT', 'readlink', 'self', { detail: 'the caller is outside this pid namespace' });
    const now = Date.now();
    const cached = this.groups.get(tid);
    if (cached && now - cached.at < TTL_MS) return cached.value;
    const status = fs.readFileSync(`${this.proc}/${tid}/status`, 'latin1');
    const match = /^Tgid:\s*(\d+)/m.exec(status);
    const tgid = match ? Number(match[1]) : tid;
    if (this.groups.size > 4096) this.groups.clear();
    this.groups.set(tid, { value: tgid, at: now });
    return tgid;
  }

  /**
   * Whether the caller runs under `kmx procsys run`: its mount namespace has the real procfs
   * at REAL_PROC_IN_RUN. There, magic links that a path cannot stand for (pipes, sockets,
   * deleted files, namespaces) are answered with their real-procfs twin, so that
   * /dev/stdin or `<(…)` still open the right object.
   */
  inRunNamespace(tid: number): boolean {
    if (tid <= 0) return false;
    let ns: string;
    try {
      ns = fs.readlinkSync(`${this.proc}/${tid}/ns/mnt`);
    } catch {
      return false;
    }
    const now = Date.now();
    const cached = this.runNamespaces.get(ns);
    if (cached && now - cached.at < TTL_MS) return cached.value;
    let found = false;
    try {
      found = fs.statfsSync(`${this.proc}/${tid}/root${REAL_PROC_IN_RUN}`).type === PROC_SUPER_MAGIC;
    } catch {
      found = false;
    }
    if (this.runNamespaces.size > 256) this.runNamespaces.clear();
    this.runNamespaces.set(ns, { value: found, at: now });
    return found;
  }
}

/** Per-process links whose text names something a path cannot reach (pipe:[…], a deleted file). */
export function isMagicPath(parts: readonly string[]): boolean {
  const n = parts.length;
  if (n < 2) return false;
  const last = parts[n - 1]!;
  const parent = parts[n - 2]!;
  return parent === 'fd' || parent === 'ns' || parent === 'map_files' || last === 'exe' || last === 'cwd' || last === 'root';
}

/** Whether a link text does not lead, as a path, to the object it names. */
export function unreachableTarget(target: string): boolean {
  return !target.startsWith('/') || target.endsWith(' (deleted)');
}
