import type { NamespaceType } from '../nsfs/types.js';
import type { NamespaceRecord, NamespaceSnapshot } from '../discovery/model.js';
import { namespaceJson, type NamespaceJson } from './json.js';

// Trees in linuxns-rel's style (lsuserns, lspidns): user and PID namespaces by parent; any
// other type hangs under the user namespace that owns it, inside the user namespace tree.

export interface TreeNode {
  record: NamespaceRecord;
  children: TreeNode[];
}

export interface TreeNodeJson {
  namespace: NamespaceJson;
  children: TreeNodeJson[];
}

function byInode(a: NamespaceRecord, b: NamespaceRecord): number {
  return a.inode - b.inode;
}

/** The forest for `type`: roots are namespaces whose parent (or owner) is unknown or absent. */
export function buildTree(snapshot: NamespaceSnapshot, type: NamespaceType): TreeNode[] {
  const all = [...snapshot.namespaces.values()];
  const hierarchy = type === 'pid' ? 'pid' : 'user';
  const members = all.filter((r) => r.type === hierarchy).sort(byInode);
  const owned = type === 'user' || type === 'pid' ? [] : all.filter((r) => r.type === type).sort(byInode);
  const childMembers = new Map<number, NamespaceRecord[]>();
  const ownedBy = new Map<number, NamespaceRecord[]>();
  const present = new Set(members.map((r) => r.inode));
  for (const r of members) if (r.parent !== undefined && present.has(r.parent)) push(childMembers, r.parent, r);
  for (const r of owned) if (r.owner !== undefined && present.has(r.owner)) push(ownedBy, r.owner, r);

  const visited = new Set<number>();
  const grow = (record: NamespaceRecord): TreeNode => {
    visited.add(record.inode);
    const leaves = (ownedBy.get(record.inode) ?? []).map((r) => ({ record: r, children: [] }));
    const below = (childMembers.get(record.inode) ?? []).filter((r) => !visited.has(r.inode)).map(grow);
    return { record, children: [...leaves, ...below] };
  };
  const roots = members.filter((r) => r.parent === undefined || !present.has(r.parent)).map(grow);
  const orphans = owned.filter((r) => r.owner === undefined || !present.has(r.owner)).map((r) => ({ record: r, children: [] }));
  return [...roots, ...orphans];
}

function push(map: Map<number, NamespaceRecord[]>, key: number, value: NamespaceRecord): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The forest drawn with ├── └── │, one line per namespace. */
export function drawTree(roots: readonly TreeNode[], line: (record: NamespaceRecord) => string): string[] {
  const out: string[] = [];
  const walk = (node: TreeNode, prefix: string, last: boolean, top: boolean): void => {
    out.push(top ? line(node.record) : `${prefix}${last ? '└── ' : '├── '}${line(node.record)}`);
    const childPrefix = top ? '' : `${prefix}${last ? '    ' : '│   '}`;
    node.children.forEach((child, i) => walk(child, childPrefix, i === node.children.length - 1, false));
  };
  for (const root of roots) walk(root, '', true, true);
  return out;
}

export function treeJson(roots: readonly TreeNode[], snapshot: NamespaceSnapshot): TreeNodeJson[] {
  return roots.map((node) => ({ namespace: namespaceJson(node.record, snapshot), children: treeJson(node.children, snapshot) }));
}
