import type { Attr } from '../../types.js';

/**
 * The kernel addresses files by node id; kmx filesystems by path. The node table maps one to
 * the other: a tree of the nodes the kernel knows, each with its lookup count (every reply
 * that hands out a node id adds one; FORGET takes them back). Renames move nodes (and so the
 * paths of everything below); unlink, rmdir and a rename over an existing name orphan the
 * node that was there: the kernel may still hold it, but it no longer has a path.
 */

const S_IFMT = 0o170000;
const RENAME_EXCHANGE = 2;
export const ROOT_ID = 1;

export interface Node {
  readonly id: number;
  name: string;
  parent: Node | undefined;
  /** The node's path, or its last path once orphaned. */
  path: string;
  lookups: number;
  children: Map<string, Node> | undefined;
  /** st_mode & S_IFMT and st_ino at the last lookup: another file at the same path is another node. */
  type: number;
  ino: number | undefined;
  /** Open file handles: an orphan (unlinked while open) is still reachable through them. */
  handles: Set<number> | undefined;
  orphan: boolean;
}

export function childPath(parent: Node, name: string): string {
  return parent.path === '/' ? `/${name}` : `${parent.path}/${name}`;
}

export class NodeTable {
  private readonly byId = new Map<number, Node>();
  /** With stable inodes: the nodes (names) of each file, for its hard links. */
  private readonly byIno = new Map<number, Set<Node>>();
  private nextId = ROOT_ID + 1;
  readonly root: Node;

  /** `stableInodes`: the filesystem's st_ino identify files, so a changed one means another file. */
  constructor(private readonly stableInodes: boolean) {
    this.root = { id: ROOT_ID, name: '', parent: undefined, path: '/', lookups: 1, children: undefined, type: 0o040000, ino: undefined, handles: undefined, orphan: false };
    this.byId.set(ROOT_ID, this.root);
  }

  get(id: number): Node | undefined {
    return this.byId.get(id);
  }

  /** How many nodes the kernel may still refer to (the root included). */
  get size(): number {
    return this.byId.size;
  }

  child(parent: Node, name: string): Node | undefined {
    return parent.children?.get(name);
  }

  /** A lookup of parent/name succeeded: the node for it, with one more lookup counted. */
  remember(parent: Node, name: string, attr: Attr): Node {
    const type = attr.mode & S_IFMT;
    const ino = this.stableInodes ? attr.ino : undefined;
    const existing = parent.children?.get(name);
    if (existing) {
      if (existing.type === type && (ino === undefined || existing.ino === undefined || existing.ino === ino)) {
        existing.lookups++;
        this.setIno(existing, ino);
        return existing;
      }
      this.orphan(existing); // replaced behind the kernel's back
    }
    const node: Node = {
      id: this.nextId++, name, parent, path: childPath(parent, name), lookups: 1, children: undefined, type, ino: undefined, handles: undefined, orphan: false,
    };
    (parent.children ??= new Map()).set(name, node);
    this.byId.set(node.id, node);
    this.setIno(node, ino);
    return node;
  }

  /**
   * The other nodes of the file `node` is a name of (its hard links, each its own kernel inode,
   * as nodes go by path): what changes through one name (a link count, a mode, a size) they
   * show only once their attributes are asked again.
   */
  otherNames(node: Node): Node[] {
    if (node.ino === undefined) return [];
    return [...(this.byIno.get(node.ino) ?? [])].filter((n) => n !== node);
  }

  private setIno(node: Node, ino: number | undefined): void {
    if (node.ino === ino) return;
    this.unindex(node);
    node.ino = ino;
    if (ino !== undefined) {
      let names = this.byIno.get(ino);
      if (!names) this.byIno.set(ino, (names = new Set()));
      names.add(node);
    }
  }

  private unindex(node: Node): void {
    if (node.ino === undefined) return;
    const names = this.byIno.get(node.ino);
    names?.delete(node);
    if (names?.size === 0) this.byIno.delete(node.ino);
  }

  /** FORGET: the kernel dropped `count` references. */
  forget(id: number, count: number): void {
    const node = this.byId.get(id);
    if (!node || node === this.root) return;
    node.lookups = Math.max(0, node.lookups - count);
    this.release(node);
  }

  /** unlink or rmdir of parent/name succeeded. */
  removed(parent: Node, name: string): void {
    const node = parent.children?.get(name);
    if (node) this.orphan(node);
  }

  /** rename succeeded: move the node (and what is below it); a replaced target is orphaned. */
  renamed(parent: Node, name: string, newParent: Node, newName: string, flags: number): void {
    const moving = parent.children?.get(name);
    const target = newParent.children?.get(newName);
    if (flags & RENAME_EXCHANGE) {
      if (moving) this.detach(moving);
      if (target) this.detach(target);
      if (moving) this.attach(moving, newParent, newName);
      if (target) this.attach(target, parent, name);
      return;
    }
    if (target && target !== moving) this.orphan(target);
    if (moving) {
      this.detach(moving);
      this.attach(moving, newParent, newName);
    }
  }

  addHandle(node: Node, fh: number): void {
    (node.handles ??= new Set()).add(fh);
  }

  removeHandle(node: Node, fh: number): void {
    node.handles?.delete(fh);
  }

  /** Any open handle of the node (the first one opened that is still open). */
  anyHandle(node: Node): number | undefined {
    if (!node.handles) return undefined;
    for (const fh of node.handles) return fh;
    return undefined;
  }

  private orphan(node: Node): void {
    const parent = node.parent;
    this.detach(node);
    const mark = (n: Node): void => {
      n.orphan = true;
      n.children?.forEach(mark);
    };
    mark(node);
    this.release(node);
    if (parent) this.release(parent);
  }

  /** Takes a node out of its parent's children (it keeps its own). */
  private detach(node: Node): void {
    const parent = node.parent;
    if (parent && parent.children?.get(node.name) === node) {
      parent.children.delete(node.name);
      if (parent.children.size === 0) parent.children = undefined;
    }
    node.parent = undefined;
  }

  private attach(node: Node, parent: Node, name: string): void {
    node.parent = parent;
    node.name = name;
    (parent.children ??= new Map()).set(name, node);
    const repath = (n: Node, path: string): void => {
      n.path = path;
      n.children?.forEach((c) => repath(c, childPath(n, c.name)));
    };
    repath(node, childPath(parent, name));
  }

  /** Drops a node nobody refers to: no kernel lookups and no children that still need its path. */
  private release(node: Node): void {
    let current: Node | undefined = node;
    while (current && current !== this.root && current.lookups === 0 && !current.children && !current.handles?.size) {
      const parent: Node | undefined = current.parent;
      this.detach(current);
      this.byId.delete(current.id);
      this.unindex(current);
      current = parent;
    }
  }
}
