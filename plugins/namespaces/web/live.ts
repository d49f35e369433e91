import type { NamespaceGraphModel } from '../src/lib/graph-view/model.js';
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

export function compareModels(previous: NamespaceGraphModel | undefined, current: NamespaceGraphModel): Comparison {
  const status = new Map<string, NodeStatus>();
  if (!previous) return { model: current, status, appeared: 0, vanished: 0 };
  const before = new Set(previous.nodes.map((n) => n.id));
  const now = new Set(current.nodes.map((n) => n.id));
  for (const n of current.nodes) if (!before.has(n.id)) status.set(n.id, 'appeared');
  const ghosts = previous.nodes.filter((n) => !now.has(n.id));
  for (const n of ghosts) status.set(n.id, 'vanished');
  const all = new Set([...now, ...ghosts.map((n) => n.id)]);
  const ghostIds = new Set(ghosts.map((n) => n.id));
  const ghostEdges = previous.edges.filter((e) => (ghostIds.has(e.from) || ghostIds.has(e.to)) && all.has(e.from) && all.has(e.to));
  const model = { ...current, nodes: [...current.nodes, ...ghosts], edges: [...current.edges, ...ghostEdges] };
  return { model, status, appeared: status.size - ghosts.length, vanished: ghosts.length };
}
