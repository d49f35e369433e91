import { join } from 'node:path';
import { statSync } from 'node:fs';
import { NamespaceLab, childrenOf, comm, inodeOf, nsLink, taskNsLink, tasksOf } from './lab.js';

/**
 * One of each hierarchy the issue names, made for real. Inodes are those the kernel gave;
 * pids those of the processes in them.
 */
export interface World {
  lab: NamespaceLab;
  /** unshare -Ur unshare -Ur sleep: `middle` has no process, `inner` has the sleep. */
  nested: { pid: number; middle: number; inner: number };
  /** A new user namespace (root-mapped) owning new pid, mnt, net, ipc, uts, cgroup, time namespaces. */
  owned: { unsharePid: number; sleepPid: number; user: number; pid: number; net: number; mnt: number; ipc: number; uts: number; cgroup: number; time: number };
  /** Two PID namespaces, one inside the other. */
  pids: { outer: number; inner: number; sleepPid: number };
  /** A user namespace created by nobody (owner uid 65534). */
  nobody: { pid: number; user: number };
  /** A mount namespace held by a bind mount only, and a net namespace bound inside it (no process anywhere). */
  bound: { mntFile: string; mnt: number; innerNetMountpoint: string; innerNet: number; netFile: string; net: number };
  /** A net namespace held only by fd 3 of a sleep. */
  fdHeld: { holderPid: number; net: number };
  /** A uts namespace only one thread of a python process is in. */
  threadHeld: { pid: number; tid: number; uts: number };
  /** A time namespace made for children that do not exist yet. */
  pending: { pid: number; timeForChildren: number };
}

const SLEEP = ['sleep', '600'];

export async function buildWorld(lab: NamespaceLab): Promise<World> {
  const ourUser = nsLink('self', 'user');

  // unshare execs unshare, which execs sleep: the pid stays the same.
  const nestedPid = await lab.start('unshare', ['-Ur', 'unshare', '-Ur', ...SLEEP], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ourUser);
  const inner = inodeOf(nestedPid, 'user');

  const unsharePid = await lab.start('unshare', ['--user', '--map-root-user', '--pid', '--fork', '--kill-child', '--mount-proc',
    '--ipc', '--uts', '--net', '--cgroup', '--time', ...SLEEP], (p) => childrenOf(p).some((c) => comm(c) === 'sleep'));
  const sleepPid = childrenOf(unsharePid)[0]!;
  const owned = { unsharePid, sleepPid, user: inodeOf(sleepPid, 'user'), pid: inodeOf(sleepPid, 'pid'), net: inodeOf(sleepPid, 'net'),
    mnt: inodeOf(sleepPid, 'mnt'), ipc: inodeOf(sleepPid, 'ipc'), uts: inodeOf(sleepPid, 'uts'), cgroup: inodeOf(sleepPid, 'cgroup'), time: inodeOf(sleepPid, 'time') };

  const outerUnshare = await lab.start('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc',
    'unshare', '--pid', '--fork', '--kill-child', '--mount-proc', ...SLEEP], (p) => {
    const innerUnshare = childrenOf(p)[0];
    return innerUnshare !== undefined && childrenOf(innerUnshare).some((c) => comm(c) === 'sleep');
  });
  const innerUnshare = childrenOf(outerUnshare)[0]!;
  const pidSleep = childrenOf(innerUnshare)[0]!;
  const pids = { outer: inodeOf(innerUnshare, 'pid'), inner: inodeOf(pidSleep, 'pid'), sleepPid: pidSleep };

  const nobodyPid = await lab.start('unshare', ['--user', ...SLEEP], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ourUser,
    { uid: 65534, gid: 65534 });

  const holder = lab.privateDirectory('holder');
  const mntFile = lab.bindTarget(holder, 'mnt');
  const netFile = lab.bindTarget(holder, 'net');
  const inside = join(lab.dir, 'inside'); // a tmpfs there exists only in the bound mount namespace
  await lab.exec('mkdir', [inside]);
  const innerNetMountpoint = join(inside, 'net');
  // The helper shell reports the inode of the net namespace it bound, from inside.
  const innerNet = Number(await lab.exec('unshare', [`--mount=${mntFile}`, '--propagation', 'private', 'sh', '-c',
    `mount -t tmpfs -o size=1m kmxt-inside '${inside}' && touch '${innerNetMountpoint}' && unshare --net='${innerNetMountpoint}' true && stat -L -c %i '${innerNetMountpoint}'`]));
  await lab.exec('unshare', [`--net=${netFile}`, 'true']);
  const bound = { mntFile, mnt: statSync(mntFile).ino, innerNetMountpoint, innerNet, netFile, net: statSync(netFile).ino };

  const netOwner = await lab.start('unshare', ['--net', ...SLEEP], (p) => comm(p) === 'sleep' && nsLink(p, 'net') !== nsLink('self', 'net'));
  const fd = lab.openFd(`/proc/${netOwner}/ns/net`);
  let holderPid: number;
  try {
    holderPid = await lab.start('sleep', ['600'], (p) => comm(p) === 'sleep', { stdio: ['ignore', 'ignore', 'ignore', fd] });
  } finally {
    lab.closeFd(fd);
  }
  const fdNet = inodeOf(netOwner, 'net');
  await lab.kill(netOwner); // now only the fd holds it

  const script = [
    'import ctypes, threading, time',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'def moved():',
    '    if libc.unshare(0x04000000) != 0: raise OSError(ctypes.get_errno(), "unshare")',
    '    time.sleep(600)',
    'threading.Thread(target=moved, daemon=True).start()',
    'time.sleep(600)',
  ].join('\n');
  const ourUts = nsLink('self', 'uts');
  let tid = 0;
  const pythonPid = await lab.start('python3', ['-c', script], (p) => {
    tid = tasksOf(p).find((t) => t !== p && taskNsLink(p, t, 'uts') !== ourUts) ?? 0;
    return tid !== 0;
  });

  // unshare(CLONE_NEWTIME) without an exec: the new time namespace waits for children. (A
  // pending PID namespace cannot be seen: pid_for_children reads ENOENT until its init exists.)
  const pendingPid = await lab.start('python3', ['-c', 'import ctypes, time\nassert ctypes.CDLL(None).unshare(0x80) == 0\ntime.sleep(600)'],
    (p) => nsLink(p, 'time_for_children') !== nsLink(p, 'time'));

  return {
    lab,
    nested: { pid: nestedPid, middle: await lsnsParentOf(lab, inner), inner },
    owned,
    pids,
    nobody: { pid: nobodyPid, user: inodeOf(nobodyPid, 'user') },
    bound,
    fdHeld: { holderPid, net: fdNet },
    threadHeld: { pid: pythonPid, tid, uts: Number(/\[(\d+)\]/.exec(taskNsLink(pythonPid, tid, 'uts'))?.[1]) },
    pending: { pid: pendingPid, timeForChildren: inodeOf(pendingPid, 'time_for_children') },
  };
}

/** The parent of a user namespace as lsns --tree=parent sees it: an oracle independent of kmx. */
async function lsnsParentOf(lab: NamespaceLab, user: number): Promise<number> {
  const out = JSON.parse(await lab.exec('lsns', ['-J', '--tree=parent', '-t', 'user', '-o', 'NS,PNS'])) as { namespaces: LsnsNode[] };
  const find = (nodes: readonly LsnsNode[]): LsnsNode | undefined => {
    for (const n of nodes) {
      const hit = n.ns === user ? n : find(n.children ?? []);
      if (hit) return hit;
    }
    return undefined;
  };
  const parent = find(out.namespaces)?.pns;
  if (!parent) throw new Error(`lsns does not know the parent of user:[${user}]`);
  return parent;
}

interface LsnsNode {
  ns: number;
  pns?: number;
  children?: LsnsNode[];
}
