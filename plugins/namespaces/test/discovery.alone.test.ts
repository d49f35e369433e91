import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { MountHelper } from '@kmx/core';
import { run, runKmx } from '@kmx/core/testing';
import { INITIAL_PID_NS_INODE, INITIAL_USER_NS_INODE, NamespaceDiscovery } from '../src/index.js';
import type { ListJson } from '../src/commands/ns/list.js';
import type { NamespaceJson } from '../src/lib/render/json.js';
import { NamespaceLab, childrenOf, comm, inodeOf } from './lab.js';
import { buildWorld, type World } from './world.js';

/** Discovery through every route, on real hierarchies, with lsns as the oracle. */

interface LsnsRow {
  ns: number;
  type: string;
  nprocs: number;
  pid: number;
  pns: number;
  ons: number;
}

async function lsns(...args: string[]): Promise<LsnsRow[]> {
  const r = await run('lsns', ['-J', '-o', 'NS,TYPE,NPROCS,PID,PNS,ONS', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const flat: LsnsRow[] = [];
  const walk = (nodes: ReadonlyArray<LsnsRow & { children?: LsnsRow[] }>): void => {
    for (const n of nodes) {
      flat.push(n);
      walk(n.children ?? []);
    }
  };
  walk((JSON.parse(r.stdout) as { namespaces: LsnsRow[] }).namespaces);
  return flat;
}

async function kmxList(): Promise<Map<number, NamespaceJson>> {
  const r = await runKmx(['ns', 'list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as ListJson;
  assert.equal(list.schemaVersion, 1);
  return new Map(list.namespaces.map((n) => [n.ns, n]));
}

function record(all: ReadonlyMap<number, NamespaceJson>, inode: number): NamespaceJson {
  const found = all.get(inode);
  assert.ok(found, `kmx did not find [${inode}]`);
  return found;
}

describe('discovery on real hierarchies', () => {
  const lab = new NamespaceLab();
  let world: World;
  let found: Map<number, NamespaceJson>;

  before(async () => {
    world = await buildWorld(lab);
    found = await kmxList();
  });
  after(() => lab.cleanUp());

  it('walks up to process-less intermediate user namespaces (unshare -Ur unshare -Ur)', () => {
    const { middle, inner, pid } = world.nested;
    const m = record(found, middle);
    assert.deepEqual(m.foundBy, ['hierarchy']);
    assert.equal(m.nprocs, 0);
    assert.equal(m.parent, INITIAL_USER_NS_INODE);
    assert.deepEqual(m.children, [inner]);
    assert.deepEqual([m.ownerUid, m.ownerName], [0, 'root']);
    const i = record(found, inner);
    assert.deepEqual(i.foundBy, ['proc']);
    assert.equal(i.parent, middle);
    assert.equal(i.owner, middle);
    assert.deepEqual(i.processes.map((p) => [p.pid, p.command, p.topmost]), [[pid, 'sleep', true]]);
    assert.ok(record(found, INITIAL_USER_NS_INODE).children.includes(middle));
  });

  it('finds PID namespaces with their parents and owners', () => {
    const outer = record(found, world.pids.outer);
    const inner = record(found, world.pids.inner);
    assert.equal(outer.parent, INITIAL_PID_NS_INODE);
    assert.equal(inner.parent, world.pids.outer);
    assert.deepEqual(outer.children, [world.pids.inner]);
    assert.equal(inner.owner, INITIAL_USER_NS_INODE);
    assert.equal(inner.pid, world.pids.sleepPid);
    const owned = record(found, world.owned.pid);
    assert.equal(owned.parent, INITIAL_PID_NS_INODE);
    assert.equal(owned.owner, world.owned.user, 'a PID namespace made with --user belongs to that user namespace');
  });

  it('finds all eight types, each owned by the user namespace it was made in', () => {
    const { unsharePid, sleepPid, user, ...others } = world.owned;
    assert.deepEqual(record(found, user).processes.map((p) => p.pid).sort(), [unsharePid, sleepPid].sort());
    for (const [type, inode] of Object.entries(others)) {
      const r = record(found, inode);
      assert.equal(r.type, type);
      assert.equal(r.owner, user, `${type} owner`);
      assert.deepEqual([r.ownerUid, r.ownerName], [0, 'root'], `${type} owner uid`);
      // unshare forks only into the new PID and time namespaces; it is in the others itself.
      const members = type === 'pid' || type === 'time' ? [sleepPid] : [unsharePid, sleepPid].sort((a, b) => a - b);
      assert.deepEqual(r.processes.map((p) => p.pid), members, `${type} processes`);
      assert.deepEqual(r.processes.filter((p) => p.topmost).map((p) => p.pid), members.slice(0, 1), `${type} topmost`);
      assert.ok(r.id !== null && /^\d+$/.test(r.id), `${type} id`);
    }
    assert.deepEqual(new Set([...found.values()].map((r) => r.type)), new Set(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts']));
  });

  it('reports the owner uid and name of a user namespace made by nobody', () => {
    const r = record(found, world.nobody.user);
    assert.deepEqual([r.ownerUid, r.ownerName, r.parent], [65534, 'nobody', INITIAL_USER_NS_INODE]);
    assert.deepEqual(r.processes.map((p) => [p.pid, p.uid]), [[world.nobody.pid, 65534]]);
  });

  it('finds namespaces held only by bind mounts, also inside a mount namespace without any process', () => {
    const self = inodeOf('self', 'mnt');
    const mnt = record(found, world.bound.mnt);
    assert.deepEqual(mnt.foundBy, ['bind-mount']);
    assert.deepEqual(mnt.bindMounts, [{ mountNamespace: self, mountpoint: world.bound.mntFile }]);
    assert.equal(mnt.nprocs, 0);
    assert.equal(mnt.owner, INITIAL_USER_NS_INODE);
    // Mount namespaces copied from ours meanwhile (other tests' unshare -m) carry a copy of the bind.
    const net = record(found, world.bound.net);
    assert.ok(net.bindMounts.some((b) => b.mountNamespace === self && b.mountpoint === world.bound.netFile), JSON.stringify(net.bindMounts));
    // Only the helper process can read that mount table and reach the bind mount in it.
    const inner = record(found, world.bound.innerNet);
    assert.deepEqual(inner.foundBy, ['bind-mount']);
    assert.deepEqual(inner.bindMounts, [{ mountNamespace: world.bound.mnt, mountpoint: world.bound.innerNetMountpoint }]);
    assert.equal(inner.owner, INITIAL_USER_NS_INODE, 'its relations were read through the held mount namespace');
    assert.ok(inner.id !== null);
  });

  it('finds a namespace held only by an open fd', () => {
    const r = record(found, world.fdHeld.net);
    assert.deepEqual(r.foundBy, ['fd']);
    assert.deepEqual(r.fds, [{ pid: world.fdHeld.holderPid, fd: 3 }]);
    assert.equal(r.nprocs, 0);
    assert.equal(r.owner, INITIAL_USER_NS_INODE);
  });

  it('finds a namespace only one thread is in', () => {
    const r = record(found, world.threadHeld.uts);
    assert.deepEqual(r.foundBy, ['task']);
    assert.deepEqual(r.threads, [{ pid: world.threadHeld.pid, tid: world.threadHeld.tid }]);
    assert.equal(r.nprocs, 0);
  });

  it('finds a namespace waiting for children (time_for_children)', () => {
    const time = record(found, world.pending.timeForChildren);
    assert.deepEqual([time.type, time.nprocs, time.forChildrenOf, time.foundBy], ['time', 0, [world.pending.pid], ['proc']]);
    assert.equal(time.owner, INITIAL_USER_NS_INODE);
  });

  it('finds a superset of lsns, with the same processes, parents and owners', async () => {
    // Other tests share the machine: compare what both lsns runs saw, before and after kmx.
    // Freed inodes are reused at once, so a namespace is the same only with the same first pid.
    const before = await lsns();
    const ours = await kmxList();
    const later = new Set((await lsns()).map((r) => `${r.ns}:${r.pid}`));
    const stable = before.filter((r) => later.has(`${r.ns}:${r.pid}`));
    assert.ok(stable.length > 8);
    for (const row of stable) assert.equal(ours.get(row.ns)?.type, row.type, `lsns's ${row.type}:[${row.ns}]`);

    const fixtures = [world.nested.inner, world.nobody.user, world.pids.outer, world.pids.inner, ...Object.values(world.owned).slice(2)];
    for (const inode of fixtures) {
      const theirs = before.find((r) => r.ns === inode);
      assert.ok(theirs, `lsns lists [${inode}]`);
      const mine = record(ours, inode);
      assert.equal(mine.nprocs, theirs.nprocs, `nprocs of ${mine.label}`);
      assert.equal(mine.owner ?? 0, theirs.ons, `owner of ${mine.label}`);
      if (mine.type === 'user' || mine.type === 'pid') assert.equal(mine.parent ?? 0, theirs.pns, `parent of ${mine.label}`);
    }
    const missed = [world.nested.middle, world.bound.mnt, world.bound.net, world.bound.innerNet, world.fdHeld.net,
      world.threadHeld.uts, world.pending.timeForChildren];
    for (const inode of missed) {
      assert.equal(before.some((r) => r.ns === inode), false, `lsns lists [${inode}] after all`);
      record(ours, inode);
    }
  });

  it('agrees with lsns --tree=parent on the user namespace hierarchy, hidden ones included', async () => {
    const theirs = await lsns('--tree=parent', '-t', 'user');
    const ours = await kmxList();
    const fixtures = [world.nested.middle, world.nested.inner, world.nobody.user, world.owned.user];
    for (const inode of fixtures) {
      const row = theirs.find((r) => r.ns === inode);
      assert.ok(row, `lsns --tree=parent shows [${inode}]`);
      assert.equal(record(ours, inode).parent ?? 0, row.pns);
      assert.equal(record(ours, inode).nprocs, row.nprocs);
    }
  });

  it('leaves no fd open and no helper running in the process that discovers', async () => {
    const fds = readdirSync('/proc/self/fd').length;
    const snapshot = await new NamespaceDiscovery(new MountHelper()).discover();
    assert.ok(snapshot.namespaces.has(world.bound.innerNet), 'the held mount namespace was entered');
    assert.equal(readdirSync('/proc/self/fd').length, fds);
    assert.deepEqual(childrenOf(process.pid).filter((pid) => comm(pid) === 'kmx-nshelper'), [], 'no helper left');
  });
});
