import { UsageError } from '@kmx/core';
import type { NamespaceType } from '../nsfs/types.js';
import type { NamespaceRecord, NamespaceSnapshot } from '../discovery/model.js';
import { UserNames, lsnsFields } from './lsns.js';
import type { TableColumn } from './lsns-table.js';

// The flat list: lsns's columns (same names, same meaning) plus kmx's FOUND (the routes that
// found a namespace) and ID (NS_GET_ID). Namespaces without a process, which lsns does not
// list, show what holds them in COMMAND, in brackets, and '-' where a process would be.

export const LSNS_COLUMNS = ['NS', 'TYPE', 'PATH', 'NPROCS', 'PID', 'PPID', 'COMMAND', 'UID', 'USER', 'NETNSID', 'NSFS', 'PNS', 'ONS'] as const;
export const KMX_COLUMNS = ['FOUND', 'ID'] as const;
export const COLUMNS = [...LSNS_COLUMNS, ...KMX_COLUMNS] as const;
export type ColumnName = (typeof COLUMNS)[number];

/** lsns's width hints (colinfo.whint in lsns.c): columns narrower than these are widened to them. */
const WIDTH_HINTS: Readonly<Partial<Record<ColumnName, number>>> = { NS: 10, TYPE: 5, NPROCS: 5, PID: 5, PPID: 5 };

/** As lsns aligns them: numbers to the right. */
const RIGHT_ALIGNED: ReadonlySet<ColumnName> = new Set(['NS', 'NPROCS', 'PID', 'PPID', 'UID', 'NETNSID', 'PNS', 'ONS', 'ID']);

export const COLUMN_HELP: Readonly<Record<ColumnName, string>> = {
  NS: 'namespace identifier (inode number)',
  TYPE: 'kind of namespace',
  PATH: 'path to the namespace (without a process: the bind mount, fd or thread that holds it)',
  NPROCS: 'number of processes in the namespace',
  PID: 'lowest PID in the namespace',
  PPID: 'PPID of the PID',
  COMMAND: 'command line of the PID (without a process: what holds it, in brackets)',
  UID: 'UID of the PID',
  USER: 'username of the PID',
  NETNSID: 'namespace ID as used by network subsystem',
  NSFS: 'nsfs mountpoint (usually used network subsystem)',
  PNS: 'parent namespace identifier (inode number)',
  ONS: 'owner namespace identifier (inode number)',
  FOUND: 'the routes that found it (kmx)',
  ID: '64-bit namespace id, NS_GET_ID (kmx)',
};

/** lsns's default columns (NETNSID and NSFS when net namespaces are asked for), with FOUND before COMMAND. */
export function defaultColumns(types: readonly NamespaceType[]): ColumnName[] {
  const net: ColumnName[] = types.includes('net') ? ['NETNSID', 'NSFS'] : [];
  return ['NS', 'TYPE', 'NPROCS', 'PID', 'USER', ...net, 'FOUND', 'COMMAND'];
}

/** `-o` as lsns reads it: comma-separated names in any case; a leading '+' adds to the defaults. */
export function parseColumns(spec: string, defaults: readonly ColumnName[]): ColumnName[] {
  const adding = spec.startsWith('+');
  const names = (adding ? spec.slice(1) : spec).split(',');
  const columns = names.map((name) => {
    const column = COLUMNS.find((c) => c === name.trim().toUpperCase());
    if (!column) throw new UsageError(`unknown column: ${JSON.stringify(name)}`, `columns: ${COLUMNS.join(', ')}`);
    return column;
  });
  return adding ? [...defaults, ...columns] : columns;
}

/** The namespaces of `types` (all when empty) that `pid` is in (any when undefined), by inode. */
export function selectNamespaces(snapshot: NamespaceSnapshot, types: readonly NamespaceType[], pid?: number): NamespaceRecord[] {
  return [...snapshot.namespaces.values()]
    .filter((r) => (types.length === 0 || types.includes(r.type)) && (pid === undefined || r.processes.includes(pid)))
    .sort((a, b) => a.inode - b.inode);
}

function text(value: string | number | null, missing: string): string {
  return value === null ? missing : String(value);
}

/** Each namespace's cells for `columns`; a cell may hold several lines (NSFS, one mountpoint each). */
export function listCells(records: readonly NamespaceRecord[], snapshot: NamespaceSnapshot, columns: readonly ColumnName[]): string[][][] {
  const users = new UserNames();
  return records.map((record) => {
    const f = lsnsFields(record, snapshot, users);
    const cell: Record<ColumnName, string[]> = {
      NS: [String(record.inode)], TYPE: [record.type], PATH: [text(f.path, '-')], NPROCS: [String(record.processes.length)],
      PID: [text(f.pid, '-')], PPID: [text(f.ppid, '-')], COMMAND: [f.command], UID: [text(f.uid, '-')], USER: [text(f.user, '-')],
      // lsns leaves these empty where they do not apply.
      NETNSID: [text(f.netnsid, '')], NSFS: f.nsfs === null ? [''] : f.nsfs.split('\n'), PNS: [String(f.pns)], ONS: [String(f.ons)],
      FOUND: [record.foundBy.join(',')], ID: [record.id === undefined ? '-' : record.id.toString()],
    };
    return columns.map((c) => cell[c]);
  });
}

export function tableColumns(columns: readonly ColumnName[]): TableColumn[] {
  return columns.map((name) => ({ name, right: RIGHT_ALIGNED.has(name), hint: WIDTH_HINTS[name] ?? 0, truncate: name === 'COMMAND' }));
}
