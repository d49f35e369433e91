import { libc } from '@kmx/core';
import type { NamespaceType } from '../nsfs/types.js';
import type { NamespaceRecord, NamespaceSnapshot } from '../discovery/model.js';
import { readCommandLine } from '../discovery/processes.js';
import { holders } from './describe.js';
import { representativePid } from './json.js';

// The flat list, lsns's columns plus FOUND (the routes): namespaces without a process show
// what holds them in COMMAND, in brackets.

export const LIST_HEADERS = ['NS', 'TYPE', 'NPROCS', 'PID', 'USER', 'FOUND', 'COMMAND'] as const;

/** The namespaces of `types` (all when empty), by inode. */
export function selectNamespaces(snapshot: NamespaceSnapshot, types: readonly NamespaceType[]): NamespaceRecord[] {
  return [...snapshot.namespaces.values()].filter((r) => types.length === 0 || types.includes(r.type)).sort((a, b) => a.inode - b.inode);
}

export function listRows(records: readonly NamespaceRecord[], snapshot: NamespaceSnapshot): string[][] {
  const names = new Map<number, string>();
  const userName = (uid: number): string => {
    if (!names.has(uid)) names.set(uid, libc.userById(uid)?.name ?? String(uid));
    return names.get(uid) ?? String(uid);
  };
  return records.map((r) => {
    const pid = representativePid(r);
    const process = pid === undefined ? undefined : snapshot.processes.get(pid);
    const command = pid === undefined
      ? `[${holders(r, snapshot).join('; ') || `no process: ${r.foundBy.join(', ')}`}]`
      : readCommandLine(pid) ?? process?.command ?? '?';
    return [
      String(r.inode), r.type, String(r.processes.length), pid === undefined ? '-' : String(pid),
      process ? userName(process.uid) : '-', r.foundBy.join(','), command,
    ];
  });
}
