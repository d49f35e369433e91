import { formatTable } from '@kmx/core';
import { HIERARCHICAL_TYPES, INITIAL_PID_NS_INODE, INITIAL_USER_NS_INODE } from '../nsfs/types.js';
import type { NamespaceRecord, NamespaceSnapshot } from '../discovery/model.js';
import type { InspectedNamespace, Inspection } from '../inspect.js';
import { describe, holders, labelOf, occupancy, userText } from './describe.js';
import { inaccessibleJson, namespaceJson, SCHEMA_VERSION, type InaccessibleJson, type NamespaceJson, type ProcessJson } from './json.js';

export interface ShowJson {
  schemaVersion: number;
  target: { path: string } | { pid: number };
  process: Omit<ProcessJson, 'topmost'> | null;
  namespaces: Array<{ link: string; namespace: NamespaceJson; ancestors: number[] }>;
  inaccessible: InaccessibleJson;
}

export function showJson(inspection: Inspection): ShowJson {
  const p = inspection.process;
  return {
    schemaVersion: SCHEMA_VERSION,
    target: inspection.target,
    process: p ? { pid: p.pid, ppid: p.ppid, command: p.command, uid: p.uid } : null,
    namespaces: inspection.namespaces.map((n) => ({ link: n.link, namespace: namespaceJson(n.record, inspection.snapshot), ancestors: n.ancestors })),
    inaccessible: inaccessibleJson(inspection.snapshot),
  };
}

function labels(inodes: readonly number[], snapshot: NamespaceSnapshot, limit = 8): string {
  const named = inodes.slice(0, limit).map((i) => {
    const r = snapshot.namespaces.get(i);
    return r ? labelOf(r) : `[${i}]`;
  });
  return `${named.join(', ')}${inodes.length > limit ? `, +${inodes.length - limit} more` : ''}`;
}

/** Every relation of one namespace, one `key  value` line each. */
function details(entry: InspectedNamespace, snapshot: NamespaceSnapshot): string[] {
  const r = entry.record;
  const rows: string[][] = [
    ['id', r.id === undefined ? '- (not available)' : r.id.toString()],
    ['found by', r.foundBy.length > 0 ? r.foundBy.join(', ') : 'only the path given'],
  ];
  if (r.type === 'user') rows.push(['owner uid', userText(r.ownerUid, r.ownerName)]);
  else rows.push(['owner', r.owner === undefined ? '?' : `user:[${r.owner}] ${userText(r.ownerUid, r.ownerName)}`]);
  if (HIERARCHICAL_TYPES.includes(r.type)) {
    const initial = r.inode === (r.type === 'user' ? INITIAL_USER_NS_INODE : INITIAL_PID_NS_INODE);
    const none = initial ? '- (the initial namespace: the root of the hierarchy)' : '- (not accessible from here)';
    rows.push(['parent', r.parent === undefined ? none : labels([r.parent], snapshot)]);
    if (entry.ancestors.length > 1) rows.push(['ancestors', labels(entry.ancestors, snapshot, 16)]);
    rows.push(['children', r.children.length > 0 ? labels(r.children, snapshot) : '-']);
  } else {
    rows.push(['parent', '- (only user and PID namespaces have parents)']);
  }
  if (r.type === 'user') {
    const owned = [...snapshot.namespaces.values()].filter((o) => o.owner === r.inode && o.type !== 'user').map((o) => o.inode);
    rows.push(['owns', owned.length > 0 ? labels(owned, snapshot) : '-']);
  }
  const topmost = r.topmost.slice(0, 4).map((pid) => `${pid} "${snapshot.processes.get(pid)?.command ?? '?'}"`).join(', ');
  rows.push(['processes', r.processes.length === 0 ? '0' : `${r.processes.length} (topmost: ${topmost}${r.topmost.length > 4 ? ', …' : ''})`]);
  const held = holders(r, snapshot);
  if (held.length > 0) rows.push(['held by', held.join('; ')]);
  const width = Math.max(...rows.map(([k]) => (k ?? '').length));
  return rows.map(([k, v]) => `  ${(k ?? '').padEnd(width)}  ${v}`);
}

function relationOf(r: NamespaceRecord, snapshot: NamespaceSnapshot): string[] {
  const parent = r.parent === undefined ? '-' : labels([r.parent], snapshot);
  const owner = r.type === 'user' ? '-' : r.owner === undefined ? '?' : `user:[${r.owner}]`;
  return [labelOf(r), parent, owner, userText(r.ownerUid, r.ownerName), String(r.processes.length), r.foundBy.join(',')];
}

/** A path: its namespace in detail. A pid: a table of its namespaces. */
export function showText(inspection: Inspection): string {
  const { snapshot } = inspection;
  if ('path' in inspection.target) {
    return inspection.namespaces.map((n) => [describe(n.record, snapshot), ...details(n, snapshot)].join('\n')).join('\n\n');
  }
  const p = inspection.process;
  const head = p ? `process ${p.pid} "${p.command}" (parent ${p.ppid}, uid ${p.uid})` : `process ${inspection.target.pid}`;
  const rows = inspection.namespaces.map((n) => [n.link, ...relationOf(n.record, snapshot)]);
  const table = formatTable(['LINK', 'NAMESPACE', 'PARENT', 'OWNER', 'OWNER UID', 'NPROCS', 'FOUND'], rows);
  const notes = inspection.namespaces.filter((n) => n.record.processes.length === 0).map((n) => `${n.link}: ${occupancy(n.record, snapshot)}`);
  return [head, table, ...notes].join('\n');
}
