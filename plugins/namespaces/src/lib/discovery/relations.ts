import { libc } from '@kmx/core';
import { NoOwnerError, NoParentError } from '../nsfs/errors.js';
import { NamespaceHandle, isProcNamespaceLink } from '../nsfs/handle.js';
import { NetnsIdQuery } from '../nsfs/netnsid.js';
import { namespaceLabel, type NamespaceType } from '../nsfs/types.js';
import type { Findings } from './findings.js';
import type { NamespaceRecord, Route } from './model.js';

// The hierarchy and ownership routes: every namespace is opened once and asked for its id,
// owning user namespace, parent and owner uid. Parents and owners that no process, fd or bind
// mount holds (intermediate user and PID namespaces) are found here, and asked in turn.

interface Pending {
  record: NamespaceRecord;
  /** Already open: a namespace that NS_GET_PARENT or NS_GET_USERNS just returned. */
  handle?: NamespaceHandle;
}

/** Opens a namespace by the first of its ways in that works and still leads to the same inode. */
async function open(findings: Findings, record: NamespaceRecord): Promise<NamespaceHandle | undefined> {
  const label = namespaceLabel(record.type, record.inode);
  const candidates = findings.candidatesOf(record.inode);
  if (candidates.length === 0) {
    findings.cannot('namespace', label, 'SKIPPED', 'its only bind mount lies below a FUSE mount, which kmx does not open (a hung server would hang it)');
    return undefined;
  }
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      const path = typeof candidate === 'string' ? candidate : await candidate();
      const handle = isProcNamespaceLink(path) ? NamespaceHandle.openProcLink(path) : NamespaceHandle.open(path);
      if (handle.inode === record.inode) return handle;
      handle.close(); // the path now leads elsewhere (a pid reused, a mount replaced)
    } catch (err) {
      lastError = err;
    }
  }
  findings.cannot('namespace', label, lastError ?? 'ESTALE', lastError === undefined ? 'every way in now leads to another namespace' : undefined);
  return undefined;
}

class RelationWalk {
  private readonly queue: Pending[];
  private readonly names = new Map<number, string | undefined>();
  /** Queued records not yet opened, by inode: a relation that leads to one lends its handle. */
  private readonly waiting = new Map<number, Pending>();
  /**
   * Records no way in could open (the process that showed one has exited since), by inode. A
   * relation may still lead to one: an intermediate user namespace where a short-lived process
   * was seen is reached again as the parent of the namespace below it.
   */
  private readonly unopened = new Set<number>();
  private readonly netnsIds = new NetnsIdQuery();

  constructor(private readonly findings: Findings) {
    this.queue = [...findings.namespaces.values()].map((record) => ({ record }));
    for (const item of this.queue) this.waiting.set(item.record.inode, item);
  }

  async run(): Promise<void> {
    try {
      await this.walk();
    } finally {
      this.netnsIds.close();
    }
  }

  private async walk(): Promise<void> {
    // The queue grows while it is walked (parents and owners found on the way).
    for (let i = 0; i < this.queue.length; i++) {
      const item = this.queue[i]!;
      this.waiting.delete(item.record.inode);
      const given = this.findings.given.get(item.record.inode);
      const handle = item.handle ?? given ?? await open(this.findings, item.record);
      if (!handle) {
        this.unopened.add(item.record.inode);
        continue;
      }
      try {
        this.relate(item.record, handle);
      } finally {
        if (handle !== given) handle.close();
      }
    }
  }

  /**
   * A related namespace: recorded and queued with its open handle if it is new. A known one
   * that has not been opened yet, or could not be, takes the handle; otherwise it is closed.
   */
  private adopt(related: NamespaceHandle, type: NamespaceType, route: Route): number {
    const inode = related.inode;
    const known = this.findings.namespaces.get(inode);
    const waiting = this.waiting.get(inode);
    if (!known) {
      this.queue.push({ record: this.findings.found(type, inode, route), handle: related });
    } else if (waiting) {
      waiting.handle = related;
      this.waiting.delete(inode);
    } else if (this.unopened.delete(inode)) {
      this.findings.reached('namespace', namespaceLabel(known.type, inode));
      this.queue.push({ record: known, handle: related });
    } else {
      related.close();
    }
    return inode;
  }

  private relate(record: NamespaceRecord, ns: NamespaceHandle): void {
    const label = namespaceLabel(record.type, record.inode);
    record.id = ns.id();
    if (record.type === 'net') record.netnsid = this.netnsIds.idOf(ns.fd);
    try {
      // For a user namespace the owner is its parent (NS_GET_USERNS = NS_GET_PARENT there).
      record.owner = this.adopt(ns.owner(), 'user', record.type === 'user' ? 'hierarchy' : 'ownership');
      if (record.type === 'user') record.parent = record.owner;
    } catch (err) {
      if (!(err instanceof NoOwnerError)) this.findings.cannot(record.type === 'user' ? 'parent' : 'owner', label, err);
    }
    if (record.type === 'pid') {
      try {
        record.parent = this.adopt(ns.parent(), 'pid', 'hierarchy');
      } catch (err) {
        if (!(err instanceof NoParentError)) this.findings.cannot('parent', label, err);
      }
    }
    if (record.type === 'user') {
      record.ownerUid = ns.ownerUid();
      record.ownerName = this.userName(record.ownerUid);
    }
  }

  private userName(uid: number): string | undefined {
    if (!this.names.has(uid)) this.names.set(uid, libc.userById(uid)?.name);
    return this.names.get(uid);
  }
}

/** Fills in ids, parents, owners and owner uids, adding the namespaces found on the way. */
export async function resolveRelations(findings: Findings): Promise<void> {
  await new RelationWalk(findings).run();
  const all = findings.namespaces;
  for (const record of all.values()) {
    if (record.parent !== undefined) all.get(record.parent)?.children.push(record.inode);
    if (record.type !== 'user' && record.owner !== undefined) {
      const owner = all.get(record.owner);
      record.ownerUid = owner?.ownerUid;
      record.ownerName = owner?.ownerName;
    }
  }
  for (const record of all.values()) record.children.sort((a, b) => a - b);
}
