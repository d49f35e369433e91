import { Tokens, inject, injectable, type MountHelper } from '@kmx/core';
import { MountNamespaceHolds, scanBindMounts } from './bind-mounts.js';
import { Findings } from './findings.js';
import type { NamespaceHandle } from '../nsfs/handle.js';
import { newRecord, type NamespaceSnapshot } from './model.js';
import { listPids, markTopmost, ownNamespaces, scanProcess } from './processes.js';
import { resolveRelations } from './relations.js';

/**
 * Finds every namespace this user can see, through every route: processes, their threads,
 * their open fds, nsfs bind mounts in every mount namespace, and the parent and owner
 * relations. What it cannot look at is listed in `inaccessible` instead of failing the lot.
 */
@injectable()
export class NamespaceDiscovery {
  constructor(@inject(Tokens.MountHelper) private readonly helper: MountHelper) {}

  /**
   * `given`: namespaces the caller holds open (kmx ns show), used as ways in and recorded even
   * if no route finds them (then with an empty foundBy). They stay open.
   */
  async discover(given: readonly NamespaceHandle[] = []): Promise<NamespaceSnapshot> {
    const findings = new Findings();
    const self = ownNamespaces();
    for (const pid of listPids()) scanProcess(findings, pid);
    for (const handle of given) {
      findings.given.set(handle.inode, handle);
      findings.addCandidate(handle.inode, `/proc/self/fd/${handle.fd}`); // for the helper, which opens by path
      if (!findings.namespaces.has(handle.inode)) findings.namespaces.set(handle.inode, newRecord(handle.type, handle.inode));
    }
    markTopmost(findings);
    const holds = new MountNamespaceHolds(this.helper);
    try {
      await scanBindMounts(findings, this.helper, holds);
      await resolveRelations(findings);
    } finally {
      await holds.releaseAll();
    }
    const namespaces = new Map([...findings.namespaces.entries()].sort(([a], [b]) => a - b));
    return { namespaces, processes: findings.processes, inaccessible: findings.inaccessible, self };
  }
}
