import type { NamespaceType } from '../nsfs/types.js';
import { namespaceLabel } from '../nsfs/types.js';
import type {
  BindMountHolder, FdHolder, Inaccessible, NamespaceRecord, NamespaceSnapshot, Route, ThreadHolder,
} from '../discovery/model.js';
import { UserNames, lsnsFields, type LsnsFields } from './lsns.js';

// The --json schema of every kmx ns command (documented in docs/ns.md). Stable: fields are
// only ever added; a change that removes or retypes one bumps SCHEMA_VERSION.

export const SCHEMA_VERSION = 1;

export interface ProcessJson {
  pid: number;
  ppid: number;
  command: string;
  uid: number;
  /** Its parent process is not in this namespace. */
  topmost: boolean;
}

/**
 * kmx's fields, then lsns -J's (--output-all) with lsns's meaning, so that a jq program written
 * for lsns -J reads kmx ns list --json. `ns`, `type`, `nprocs` and `pid` are both.
 */
export interface NamespaceJson extends Omit<LsnsFields, 'pid'> {
  /** The inode, as lsns's NS column; relations below refer to namespaces by it. */
  ns: number;
  type: NamespaceType;
  label: string;
  /** NS_GET_ID as a decimal string (64 bits do not fit a JSON number), or null. */
  id: string | null;
  parent: number | null;
  children: number[];
  owner: number | null;
  ownerUid: number | null;
  ownerName: string | null;
  nprocs: number;
  /** The lowest pid in it, lsns's PID (normally also its topmost process); null without processes. */
  pid: number | null;
  processes: ProcessJson[];
  threads: ThreadHolder[];
  fds: FdHolder[];
  bindMounts: BindMountHolder[];
  forChildrenOf: number[];
  foundBy: Route[];
}

export interface InaccessibleJson {
  count: number;
  items: Inaccessible[];
}

export { representativePid } from './describe.js';

/** One user-name cache per snapshot: a listing looks each uid up once. */
const userNames = new WeakMap<NamespaceSnapshot, UserNames>();

export function namespaceJson(record: NamespaceRecord, snapshot: NamespaceSnapshot): NamespaceJson {
  const topmost = new Set(record.topmost);
  let users = userNames.get(snapshot);
  if (!users) userNames.set(snapshot, (users = new UserNames()));
  const { pid, ...lsns } = lsnsFields(record, snapshot, users);
  return {
    ns: record.inode,
    type: record.type,
    label: namespaceLabel(record.type, record.inode),
    id: record.id === undefined ? null : record.id.toString(),
    parent: record.parent ?? null,
    children: record.children,
    owner: record.owner ?? null,
    ownerUid: record.ownerUid ?? null,
    ownerName: record.ownerName ?? null,
    nprocs: record.processes.length,
    pid,
    processes: record.processes.map((pid) => {
      const p = snapshot.processes.get(pid);
      return { pid, ppid: p?.ppid ?? 0, command: p?.command ?? '', uid: p?.uid ?? -1, topmost: topmost.has(pid) };
    }),
    threads: record.threads,
    fds: record.fds,
    bindMounts: record.bindMounts,
    forChildrenOf: record.forChildrenOf,
    foundBy: record.foundBy,
    ...lsns,
  };
}

export function inaccessibleJson(snapshot: NamespaceSnapshot): InaccessibleJson {
  return { count: snapshot.inaccessible.length, items: snapshot.inaccessible };
}
