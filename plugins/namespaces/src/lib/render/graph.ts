import type { NamespaceType } from '../nsfs/types.js';
import type { NamespaceRecord, NamespaceSnapshot } from '../discovery/model.js';
import { labelOf, occupancy, userText } from './describe.js';

// The relation graph: namespaces as nodes, parent and owner edges, optionally the topmost
// processes of each namespace; as data (--json) and as Graphviz DOT.

export interface GraphNode {
  id: string;
  kind: 'namespace' | 'process';
  label: string;
  type?: NamespaceType;
  ns?: number;
  pid?: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** parent: child → parent; owner: namespace → owning user namespace; member: process → namespace. */
  kind: 'parent' | 'owner' | 'member';
}

export interface RelationGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const nsId = (inode: number): string => `ns${inode}`;

/** The namespaces of `types` (all when empty) and the parents and owners that connect them, by inode. */
export function selectNamespaces(snapshot: NamespaceSnapshot, types: readonly NamespaceType[]): NamespaceRecord[] {
  const chosen = new Map<number, NamespaceRecord>();
  const add = (record: NamespaceRecord | undefined): void => {
    if (!record || chosen.has(record.inode)) return;
    chosen.set(record.inode, record);
    if (record.parent !== undefined) add(snapshot.namespaces.get(record.parent));
    if (record.owner !== undefined) add(snapshot.namespaces.get(record.owner));
  };
  for (const record of snapshot.namespaces.values()) if (types.length === 0 || types.includes(record.type)) add(record);
  return [...chosen.values()].sort((a, b) => a.inode - b.inode);
}

/**
 * The namespaces of `types` (all when empty) plus the parents and owners that connect them,
 * and with `processes` the topmost processes of each.
 */
export function buildGraph(snapshot: NamespaceSnapshot, options: { types: readonly NamespaceType[]; processes: boolean }): RelationGraph {
  const records = selectNamespaces(snapshot, options.types);
  const chosen = new Set(records.map((r) => r.inode));
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const r of records) {
    const who = r.type === 'user' ? `\nowner ${userText(r.ownerUid, r.ownerName)}` : '';
    nodes.push({ id: nsId(r.inode), kind: 'namespace', label: `${labelOf(r)}${who}\n${occupancy(r, snapshot)}`, type: r.type, ns: r.inode });
    if (r.parent !== undefined && chosen.has(r.parent)) edges.push({ from: nsId(r.inode), to: nsId(r.parent), kind: 'parent' });
    // A user namespace's owner is its parent: one edge says it.
    if (r.type !== 'user' && r.owner !== undefined && chosen.has(r.owner)) edges.push({ from: nsId(r.inode), to: nsId(r.owner), kind: 'owner' });
  }
  if (options.processes) {
    const seen = new Set<number>();
    for (const r of records) {
      for (const pid of r.topmost) {
        if (!seen.has(pid)) {
          seen.add(pid);
          nodes.push({ id: `p${pid}`, kind: 'process', label: `${pid} ${snapshot.processes.get(pid)?.command ?? '?'}`, pid });
        }
        edges.push({ from: `p${pid}`, to: nsId(r.inode), kind: 'member' });
      }
    }
  }
  return { nodes, edges };
}

function quote(text: string): string {
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
}

const NODE_STYLE: Partial<Record<NamespaceType, string>> = {
  user: 'shape=box, style="rounded,filled", fillcolor="#dbe8fb"',
  pid: 'shape=box, style="rounded,filled", fillcolor="#dcf5dc"',
};
const EDGE_STYLE: Record<GraphEdge['kind'], string> = {
  parent: 'label="parent"',
  owner: 'style=dashed, color="#555555", label="owner"',
  member: 'style=dotted, arrowhead=none',
};

const GRID_COLUMNS = 4;

/**
 * Graphviz DOT, edges pointing up (child to parent). Each user namespace is a cluster holding
 * the namespaces it owns and, nested, its child user namespaces: Graphviz then draws the
 * owner edges inside one box each instead of across the whole picture.
 */
export function toDot(graph: RelationGraph): string {
  const lines = ['digraph namespaces {', '  rankdir=BT;', '  node [fontname="monospace", fontsize=10, shape=box];', '  edge [fontname="monospace", fontsize=8];'];
  const users = new Set(graph.nodes.filter((n) => n.type === 'user').map((n) => n.id));
  const clusterOf = new Map<string, string>();
  for (const e of graph.edges) {
    // A user namespace sits in its parent's cluster; any other namespace in its owner's.
    if ((e.kind === 'parent' && users.has(e.from)) || e.kind === 'owner') clusterOf.set(e.from, e.to);
  }
  const members = new Map<string | undefined, GraphNode[]>();
  for (const n of graph.nodes) {
    const home = n.type === 'user' ? n.id : clusterOf.get(n.id);
    members.set(home, [...(members.get(home) ?? []), n]);
  }
  const childClusters = new Map<string | undefined, string[]>();
  for (const id of users) {
    const parent = clusterOf.get(id);
    childClusters.set(parent, [...(childClusters.get(parent) ?? []), id]);
  }
  const node = (n: GraphNode, indent: string): string => {
    const style = n.kind === 'process' ? 'shape=note' : NODE_STYLE[n.type ?? 'net'] ?? 'shape=box';
    return `${indent}${n.id} [label=${quote(n.label)}, ${style}];`;
  };
  const grid: string[] = [];
  const cluster = (id: string, indent: string): void => {
    lines.push(`${indent}subgraph cluster_${id} {`, `${indent}  style="rounded,dashed"; color="#4a6fa5"; label="";`);
    const inside = members.get(id) ?? [];
    for (const n of inside) lines.push(node(n, `${indent}  `));
    // Invisible edges stack what a user namespace owns in rows of GRID_COLUMNS, or Graphviz
    // puts it all in the one rank below its owner: the long row the SVG used to be.
    const owned = inside.filter((n) => n.id !== id);
    for (let i = GRID_COLUMNS; i < owned.length; i++) grid.push(`  ${owned[i]!.id} -> ${owned[i - GRID_COLUMNS]!.id} [style=invis];`);
    for (const child of childClusters.get(id) ?? []) cluster(child, `${indent}  `);
    lines.push(`${indent}}`);
  };
  for (const root of childClusters.get(undefined) ?? []) cluster(root, '  ');
  for (const n of members.get(undefined) ?? []) lines.push(node(n, '  '));
  for (const e of graph.edges) lines.push(`  ${e.from} -> ${e.to} [${EDGE_STYLE[e.kind]}];`);
  lines.push(...grid, '}');
  return `${lines.join('\n')}\n`;
}
