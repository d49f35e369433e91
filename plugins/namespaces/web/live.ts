import type { GraphModelEdge, GraphModelNode, NamespaceGraphModel } from '../src/lib/graph-view/model.js';
import type { NodeStatus } from '../src/lib/graph-view/scene.js';

// What changed between two loads: nodes that appeared are marked, nodes that vanished stay
// drawn (faded, where they were) until the next refresh, so a user sees both.

export interface Comparison {
  /** The current model plus the vanished nodes and their edges. */
  model: NamespaceGraphModel;
  status: Map<string, NodeStatus>;
  appeared: number;
  vanished: number;
}

/**
 * The kernel gives a freed inode to the next namespace made, at once on a busy machine, so a
 * namespace is known by its 64-bit id (NS_GET_ID, never reused) where the kernel has one.
 */
function identity(node: GraphModelNode): string {
  return node.kind === 'namespace' ? `${node.id}#${node.details.id ?? ''}` : node.id;
}

export function compareModels(previous: NamespaceGraphModel | undefined, current: NamespaceGraphModel): Comparison {
  const status = new Map<string, NodeStatus>();
  if (!previous) return { model: current, status, appeared: 0, vanished: 0 };
  const before = new Set(previous.nodes.map(identity));
  const now = new Set(current.nodes.map(identity));
  const liveIds = new Set(current.nodes.map((n) => n.id));
  let appeared = 0;
  for (const n of current.nodes) {
    if (before.has(identity(n))) continue;
    status.set(n.id, 'appeared');
    appeared += 1;
  }
  // A vanished namespace whose inode a new one took keeps its place under another id.
  const renamed = new Map<string, string>();
  const ghosts = previous.nodes.filter((n) => !now.has(identity(n))).map((n) => {
    if (!liveIds.has(n.id)) return n;
    renamed.set(n.id, `${n.id}-gone`);
    return { ...n, id: `${n.id}-gone` };
  });
  for (const n of ghosts) status.set(n.id, 'vanished');
  const ghostIds = new Set(ghosts.map((n) => n.id));
  const all = new Set([...liveIds, ...ghostIds]);
  const ghostEdges: GraphModelEdge[] = [];
  for (const e of previous.edges) {
    const edge = { ...e, from: renamed.get(e.from) ?? e.from, to: renamed.get(e.to) ?? e.to };
    if ((ghostIds.has(edge.from) || ghostIds.has(edge.to)) && all.has(edge.from) && all.has(edge.to)) ghostEdges.push(edge);
  }
  const model = { ...current, nodes: [...current.nodes, ...ghosts], edges: [...current.edges, ...ghostEdges] };
  return { model, status, appeared, vanished: ghosts.length };
}
