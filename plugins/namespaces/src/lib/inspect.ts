import { existsSync, statSync } from 'node:fs';
import { SysError, errnoOf } from '@kmx/core';
import type { NamespaceDiscovery } from './discovery/discover.js';
import type { NamespaceRecord, NamespaceSnapshot, ProcessInfo } from './discovery/model.js';
import { NamespaceHandle } from './nsfs/handle.js';
import { NAMESPACE_TYPES } from './nsfs/types.js';

// kmx ns show: the namespaces of one path or one process, opened before discovery runs (so
// bad input fails fast, and a namespace cannot vanish while it is being described).

export type InspectTarget = { path: string } | { pid: number };

export interface InspectedNamespace {
  /** The ns link it came from (net, pid_for_children) or the path given. */
  link: string;
  record: NamespaceRecord;
  /** Parents up to the root, nearest first (user and PID namespaces), by inode. */
  ancestors: number[];
}

export interface Inspection {
  target: InspectTarget;
  process: ProcessInfo | undefined;
  namespaces: InspectedNamespace[];
  snapshot: NamespaceSnapshot;
}

/** A number that names no file is a pid; anything else a path. */
export function parseTarget(argument: string): InspectTarget {
  if (/^\d+$/.test(argument) && !existsSync(argument)) return { pid: Number(argument) };
  return { path: argument };
}

const EACCES = 13;
const ENOENT = 2;

function openProcessNamespaces(pid: number): Array<{ link: string; handle: NamespaceHandle }> {
  const gone = (): SysError => SysError.of('ESRCH', 'process', String(pid), { hint: 'see running processes with `ps -e`' });
  try {
    statSync(`/proc/${pid}/ns`);
  } catch {
    throw gone();
  }
  const opened: Array<{ link: string; handle: NamespaceHandle }> = [];
  try {
    for (const link of [...NAMESPACE_TYPES, 'pid_for_children', 'time_for_children']) {
      try {
        opened.push({ link, handle: NamespaceHandle.open(`/proc/${pid}/ns/${link}`) });
      } catch (err) {
        // A kernel without time namespaces lacks those two links; a zombie lacks them all.
        if (errnoOf(err) === ENOENT && existsSync(`/proc/${pid}/ns`) && opened.length > 0) continue;
        throw err;
      }
    }
  } catch (err) {
    for (const { handle } of opened) handle.close();
    if (errnoOf(err) === EACCES) {
      throw new SysError(EACCES, 'open', `/proc/${pid}/ns`, { hint: `only root and the owner of process ${pid} may read its namespaces` });
    }
    if (errnoOf(err) === ENOENT) throw gone();
    throw err;
  }
  return opened;
}

function openPath(path: string): NamespaceHandle {
  try {
    return NamespaceHandle.open(path);
  } catch (err) {
    if (err instanceof SysError && err.errno === EACCES) {
      throw new SysError(EACCES, err.syscall, path, { hint: 'only root and the owner of a process may open its namespaces' });
    }
    throw err;
  }
}

function ancestorsOf(record: NamespaceRecord, snapshot: NamespaceSnapshot): number[] {
  const chain: number[] = [];
  for (let p = record.parent; p !== undefined && !chain.includes(p); p = snapshot.namespaces.get(p)?.parent) chain.push(p);
  return chain;
}

/** Opens the target's namespaces, runs discovery around them, and picks their records. */
export async function inspect(target: InspectTarget, discovery: NamespaceDiscovery): Promise<Inspection> {
  const opened = 'pid' in target ? openProcessNamespaces(target.pid) : [{ link: target.path, handle: openPath(target.path) }];
  try {
    // *_for_children usually name the process's own namespaces: list them only when they differ.
    const own = new Set(opened.filter((o) => !o.link.endsWith('_for_children')).map((o) => o.handle.inode));
    const shown = opened.filter((o) => !o.link.endsWith('_for_children') || !own.has(o.handle.inode));
    const snapshot = await discovery.discover(shown.map((o) => o.handle));
    const namespaces = shown.map(({ link, handle }) => {
      const record = snapshot.namespaces.get(handle.inode);
      if (!record) throw new Error(`discovery lost ${link}`); // discover() records every given handle
      return { link, record, ancestors: ancestorsOf(record, snapshot) };
    });
    const process = 'pid' in target ? snapshot.processes.get(target.pid) : undefined;
    return { target, process, namespaces, snapshot };
  } finally {
    for (const { handle } of opened) handle.close();
  }
}
