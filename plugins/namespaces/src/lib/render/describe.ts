import { namespaceLabel } from '../nsfs/types.js';
import type { NamespaceRecord, NamespaceSnapshot } from '../discovery/model.js';

// One-line descriptions shared by the tree, list and show views, in linuxns-rel's words:
// `user:[4026531837] process "kthreadd" (2, 97 procs) owner root (0)`.

/** The process that stands for a namespace in the tree and show views: its first topmost one. */
export function representativePid(record: NamespaceRecord): number | undefined {
  return record.topmost[0] ?? record.processes[0];
}

export function labelOf(record: NamespaceRecord): string {
  return namespaceLabel(record.type, record.inode);
}

/** `root (0)`, `nobody (65534)`, `(1000)` for a uid without a name, `?` when unknown. */
export function userText(uid: number | undefined, name: string | undefined): string {
  if (uid === undefined) return '?';
  return name === undefined ? `(${uid})` : `${name} (${uid})`;
}

function commandOf(snapshot: NamespaceSnapshot, pid: number): string {
  return snapshot.processes.get(pid)?.command ?? '?';
}

/** What keeps a namespace without processes alive, most telling first. */
export function holders(record: NamespaceRecord, snapshot: NamespaceSnapshot): string[] {
  const held: string[] = [];
  for (const b of record.bindMounts) {
    const where = snapshot.self.mnt === b.mountNamespace ? '' : ` in mnt:[${b.mountNamespace}]`;
    held.push(`bind mount ${b.mountpoint}${where}`);
  }
  for (const f of record.fds) held.push(`fd ${f.fd} of "${commandOf(snapshot, f.pid)}" (${f.pid})`);
  for (const t of record.threads) held.push(`thread ${t.tid} of "${commandOf(snapshot, t.pid)}" (${t.pid})`);
  for (const pid of record.forChildrenOf) held.push(`next children of "${commandOf(snapshot, pid)}" (${pid})`);
  return held;
}

/** `process "sleep" (1234, 3 procs)`, or what holds a namespace that has no process. */
export function occupancy(record: NamespaceRecord, snapshot: NamespaceSnapshot): string {
  const pid = representativePid(record);
  const n = record.processes.length;
  if (pid !== undefined) return `process "${commandOf(snapshot, pid)}" (${pid}, ${n} ${n === 1 ? 'proc' : 'procs'})`;
  const held = holders(record, snapshot);
  if (held.length > 0) return `no process, held by ${held.slice(0, 2).join(', ')}${held.length > 2 ? `, +${held.length - 2} more` : ''}`;
  if (record.children.length > 0 && record.foundBy.includes('hierarchy')) return 'no process (hidden, intermediate)';
  return `no process (found by ${record.foundBy.join(', ')})`;
}

/** `owner root (0)` for a user namespace; `owner user:[…] root (0)` for the others. */
export function ownership(record: NamespaceRecord): string {
  const who = userText(record.ownerUid, record.ownerName);
  if (record.type === 'user') return `owner ${who}`;
  return record.owner === undefined ? 'owner ?' : `owner user:[${record.owner}] ${who}`;
}

/** The full line of a tree or show view. */
export function describe(record: NamespaceRecord, snapshot: NamespaceSnapshot): string {
  return `${labelOf(record)} ${occupancy(record, snapshot)} ${ownership(record)}`;
}
