import type { GraphModelNode, NamespaceGraphModel } from '../src/lib/graph-view/model.js';

// Search by inode, pid or command: a number matches a namespace whose inode contains it or
// that has that pid among its processes (and that process's node); text matches labels,
// summaries and the commands of the processes inside.

export function matches(node: GraphModelNode, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (q === '') return false;
  if (/^\d+$/.test(q)) {
    const pid = Number(q);
    if (node.kind === 'process') return node.pid === pid;
    return String(node.inode).includes(q) || node.details.processes.some((p) => p.pid === pid);
  }
  if (node.kind === 'process') return node.label.toLowerCase().includes(q);
  return node.label.toLowerCase().includes(q) || node.summary.toLowerCase().includes(q) || node.details.processes.some((p) => p.command.toLowerCase().includes(q));
}

/** The cards (user namespace ids) that must be open for `ids` to be drawn: their owners and every ancestor. */
export function cardsToOpen(model: NamespaceGraphModel, ids: ReadonlySet<string>): Set<string> {
  const parentOf = new Map<string, string>();
  const ownerOf = new Map<string, string>();
  for (const e of model.edges) {
    if (e.kind === 'parent') parentOf.set(e.from, e.to);
    if (e.kind === 'owner') ownerOf.set(e.from, e.to);
  }
  const byId = new Map(model.nodes.map((n) => [n.id, n]));
  const open = new Set<string>();
  for (const id of ids) {
    const node = byId.get(id);
    if (!node) continue;
    let card: string | undefined;
    if (node.kind === 'process') card = node.userNamespace === null ? undefined : `ns${node.userNamespace}`;
    else card = node.type === 'user' ? parentOf.get(id) : ownerOf.get(id);
    for (let c = card; c !== undefined && !open.has(c); c = parentOf.get(c)) open.add(c);
  }
  return open;
}
