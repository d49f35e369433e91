import { libc } from '@kmx/core';
import type { NamespaceRecord, NamespaceSnapshot } from '../discovery/model.js';
import { readCommandLine } from '../discovery/processes.js';
import { NETNSID_UNASSIGNED } from '../nsfs/netnsid.js';
import { holders } from './describe.js';

// lsns's columns of one namespace, with lsns's meaning (util-linux 2.38, sys-utils/lsns.c), as
// both the list's cells and the lsns keys of every namespace in --json.

/** lsns -J's keys: its columns in lower case, with the JSON types lsns 2.38 prints. */
export interface LsnsFields {
  /** /proc/PID/ns/TYPE of `pid`; without a process, a path that holds it (bind mount, fd, thread). */
  path: string | null;
  /** The lowest pid in the namespace. */
  pid: number | null;
  ppid: number | null;
  /** The command line of `pid` (its comm when it has none); without a process, what holds it, in brackets. */
  command: string;
  uid: number | null;
  /** The user name of `uid`, or the uid as text when it has none. */
  user: string | null;
  /** Network namespaces: the id ours gives it ("7", "unassigned"); null for other types. A string, as lsns -J prints it. */
  netnsid: string | null;
  /** The nsfs mounts of it in kmx's mount namespace, one per line (lsns -W: by commas); null for none. */
  nsfs: string | null;
  /** Parent (user and PID namespaces), 0 for none, as lsns's PNS. */
  pns: number;
  /** Owning user namespace, 0 for none (the initial user namespace), as lsns's ONS. */
  ons: number;
}

/** User names by uid, looked up once per listing; a uid without a name is shown as its number. */
export class UserNames {
  private readonly names = new Map<number, string>();

  of(uid: number): string {
    let name = this.names.get(uid);
    if (name === undefined) {
      name = libc.userById(uid)?.name ?? String(uid);
      this.names.set(uid, name);
    }
    return name;
  }
}

function netnsidText(record: NamespaceRecord): string | null {
  if (record.type !== 'net' || record.netnsid === undefined) return null;
  if (record.netnsid === NETNSID_UNASSIGNED) return 'unassigned';
  return record.netnsid >= 0 ? String(record.netnsid) : null;
}

/** The nsfs mountpoints lsns would list: those in our own mount table, each once. */
export function nsfsMountpoints(record: NamespaceRecord, snapshot: NamespaceSnapshot): string[] {
  const own = record.bindMounts.filter((b) => b.mountNamespace === snapshot.self.mnt).map((b) => b.mountpoint);
  return [...new Set(own)];
}

function processlessPath(record: NamespaceRecord, snapshot: NamespaceSnapshot): string | null {
  const mounted = nsfsMountpoints(record, snapshot)[0];
  if (mounted !== undefined) return mounted;
  const fd = record.fds[0];
  if (fd) return `/proc/${fd.pid}/fd/${fd.fd}`;
  const thread = record.threads[0];
  if (thread) return `/proc/${thread.pid}/task/${thread.tid}/ns/${record.type}`;
  const parent = record.forChildrenOf[0];
  return parent === undefined ? null : `/proc/${parent}/ns/${record.type}_for_children`;
}

export function lsnsFields(record: NamespaceRecord, snapshot: NamespaceSnapshot, users: UserNames, nsfsSeparator = '\n'): LsnsFields {
  const pid = record.processes[0];
  const process = pid === undefined ? undefined : snapshot.processes.get(pid);
  const mountpoints = nsfsMountpoints(record, snapshot);
  const common = {
    netnsid: netnsidText(record),
    nsfs: mountpoints.length === 0 ? null : mountpoints.join(nsfsSeparator),
    pns: record.parent ?? 0,
    ons: record.owner ?? 0,
  };
  if (pid === undefined || !process) {
    const held = holders(record, snapshot).join('; ') || `no process: ${record.foundBy.join(', ')}`;
    return { path: processlessPath(record, snapshot), pid: null, ppid: null, command: `[${held}]`, uid: null, user: null, ...common };
  }
  return {
    path: `/proc/${pid}/ns/${record.type}`,
    pid,
    ppid: process.ppid,
    command: readCommandLine(pid) ?? process.command,
    uid: process.uid,
    user: users.of(process.uid),
    ...common,
  };
}
