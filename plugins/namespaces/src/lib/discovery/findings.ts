import { errnoName, errnoOf } from '@kmx/core';
import type { NamespaceHandle } from '../nsfs/handle.js';
import type { NamespaceType } from '../nsfs/types.js';
import { newRecord, type Inaccessible, type InaccessibleKind, type NamespaceRecord, type ProcessInfo, type Route } from './model.js';

/** A path to open a namespace by, or a way to get one (a mount namespace to enter first). */
export type OpenCandidate = string | (() => Promise<string>);

/** What discovery has found so far, shared by its routes. */
export class Findings {
  readonly namespaces = new Map<number, NamespaceRecord>();
  readonly processes = new Map<number, ProcessInfo>();
  readonly inaccessible: Inaccessible[] = [];
  /** Namespaces the caller already holds open (borrowed: never closed here), by inode. */
  readonly given = new Map<number, NamespaceHandle>();
  private readonly candidates = new Map<number, OpenCandidate[]>();

  /** Records that `route` found the namespace (creating its record the first time). */
  found(type: NamespaceType, inode: number, route: Route, openBy?: OpenCandidate): NamespaceRecord {
    let record = this.namespaces.get(inode);
    if (!record) {
      record = newRecord(type, inode);
      this.namespaces.set(inode, record);
    }
    if (!record.foundBy.includes(route)) record.foundBy.push(route);
    if (openBy !== undefined) this.addCandidate(inode, openBy);
    return record;
  }

  addCandidate(inode: number, openBy: OpenCandidate): void {
    const list = this.candidates.get(inode);
    if (list) {
      // A few ways in are plenty: the first one normally works.
      if (list.length < 4) list.push(openBy);
    } else {
      this.candidates.set(inode, [openBy]);
    }
  }

  /** Ways to open the namespace, best first (processes, threads, fds, bind mounts). */
  candidatesOf(inode: number): readonly OpenCandidate[] {
    return this.candidates.get(inode) ?? [];
  }

  /** Takes back what `cannot` noted of `target`: it was reached another way after all. */
  reached(kind: InaccessibleKind, target: string): void {
    for (let i = this.inaccessible.length - 1; i >= 0; i--) {
      const entry = this.inaccessible[i]!;
      if (entry.kind === kind && entry.target === target) this.inaccessible.splice(i, 1);
    }
  }

  /** Notes what could not be looked at, with the errno of `err`. */
  cannot(kind: InaccessibleKind, target: string, err: unknown, reason?: string): void {
    const errno = errnoOf(err);
    const code = errno === undefined ? (err instanceof Error ? err.name : String(err)) : errnoName(errno);
    this.inaccessible.push({ kind, target, code, ...(reason ? { reason } : {}) });
  }
}
