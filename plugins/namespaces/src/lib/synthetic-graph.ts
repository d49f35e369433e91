import type { NamespaceRecord, NamespaceSnapshot, ProcessInfo } from './discovery/model.js';
import { newRecord } from './discovery/model.js';
import { graphModelOf } from './graph-model.js';
import type { NamespaceGraphModel } from './graph-view/model.js';
import { INITIAL_PID_NS_INODE, INITIAL_USER_NS_INODE, type NamespaceType } from './nsfs/types.js';

// A made-up machine of `count` namespaces for the viewer's benchmark and its size test: the
// initial namespaces, then containers (a user namespace owning pid, mnt, net, ipc and uts
// ones, every fourth nested in an earlier container), bind-mounted net namespaces and hidden
// intermediate user namespaces. It goes through the same graphModelOf as a real snapshot.

/** Pids far above any real pid_max, so nothing reads a real process's files. */
const FIRST_PID = 50_000_000;
/** The initial namespaces' inodes as the kernel gives them (user and pid: INITIAL_*_NS_INODE). */
const INITIAL_INODES: Array<[NamespaceType, number]> = [['mnt', 4026531832], ['net', 4026531833], ['time', 4026531834], ['cgroup', 4026531835], ['uts', 4026531838], ['ipc', 4026531839]];
const CONTAINER_TYPES: NamespaceType[] = ['pid', 'mnt', 'net', 'ipc', 'uts'];

export function syntheticSnapshot(count: number): NamespaceSnapshot {
  const namespaces = new Map<number, NamespaceRecord>();
  const processes = new Map<number, ProcessInfo>();
  let nextInode = 4026533000;
  let nextPid = FIRST_PID;
  const add = (type: NamespaceType, inode: number, owner: number | undefined, parent?: number): NamespaceRecord => {
    const record = newRecord(type, inode);
    record.owner = owner;
    record.ownerUid = 0;
    record.ownerName = 'root';
    record.foundBy = ['proc'];
    if (parent !== undefined) {
      record.parent = parent;
      namespaces.get(parent)?.children.push(inode);
    }
    namespaces.set(inode, record);
    return record;
  };
  const occupy = (records: NamespaceRecord[], command: string): void => {
    const pid = nextPid++;
    const info: ProcessInfo = { pid, ppid: 1, command, uid: 0, namespaces: {} };
    for (const r of records) {
      r.processes.push(pid);
      r.topmost.push(pid);
      info.namespaces[r.type] = r.inode;
    }
    processes.set(pid, info);
  };
  const rootUser = add('user', INITIAL_USER_NS_INODE, undefined);
  const rootPid = add('pid', INITIAL_PID_NS_INODE, INITIAL_USER_NS_INODE);
  const initial = [rootUser, rootPid, ...INITIAL_INODES.map(([type, inode]) => add(type, inode, INITIAL_USER_NS_INODE))];
  occupy(initial, 'systemd');
  const containers: Array<{ user: number; pid: number }> = [{ user: INITIAL_USER_NS_INODE, pid: INITIAL_PID_NS_INODE }];
  let made = initial.length;
  for (let n = 0; made < count; n++) {
    if (n % 7 === 6) {
      // A net namespace held only by a bind mount (ip netns add).
      const net = add('net', nextInode++, INITIAL_USER_NS_INODE);
      net.processes = [];
      net.bindMounts = [{ mountNamespace: 4026531832, mountpoint: `/run/netns/synthetic-${n}` }];
      net.foundBy = ['bind-mount'];
      made += 1;
      continue;
    }
    if (n % 11 === 10) {
      // unshare -Ur unshare -Ur: a hidden user namespace between two.
      const middle = add('user', nextInode++, INITIAL_USER_NS_INODE, INITIAL_USER_NS_INODE);
      middle.foundBy = ['hierarchy'];
      const inner = add('user', nextInode++, middle.inode, middle.inode);
      occupy([inner], 'sleep');
      made += 2;
      continue;
    }
    const host = containers[n % 4 === 3 ? containers.length - 1 : 0]!;
    const user = add('user', nextInode++, host.user, host.user);
    const owned = CONTAINER_TYPES.slice(0, Math.max(1, Math.min(CONTAINER_TYPES.length, count - made - 1))).map((type) =>
      add(type, nextInode++, user.inode, type === 'pid' ? host.pid : undefined));
    occupy([user, ...owned], n % 2 === 0 ? 'containerd-shim' : 'bash');
    containers.push({ user: user.inode, pid: owned.find((r) => r.type === 'pid')?.inode ?? host.pid });
    made += 1 + owned.length;
  }
  return { namespaces, processes, inaccessible: [], self: { mnt: 4026531832 } };
}

/** The graph model of a made-up machine with `count` namespaces (a few more when a container does not fit exactly). */
export function syntheticGraphModel(count: number, options: { processes?: boolean } = {}): NamespaceGraphModel {
  return graphModelOf(syntheticSnapshot(count), { processes: options.processes ?? false });
}
