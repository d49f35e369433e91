import type { GraphModelNode, GraphNamespaceNode, NamespaceGraphModel } from './model.js';

// Where everything goes, for the browser viewer and the static SVG alike (pure: no DOM, no
// Node). Graphviz and a layered layout put every namespace of the initial user namespace in one
// rank, which is one long row; here each user namespace is a card holding the namespaces it
// owns in a compact grid, and the cards form the user namespace tree, top-down, in rows that
// wrap. Ownership is the card, so no owner edge crosses the picture. Positions depend only on
// the model and the view state, so a refresh moves only what changed around it.

export interface ViewState {
  /** Node types left out ('pid', 'net', …, 'process'); user namespaces are the structure and always stay. */
  hiddenTypes: ReadonlySet<string>;
  /** Cards (user namespace ids) drawn as their header only: what they own and their subtree hidden. */
  collapsed: ReadonlySet<string>;
}

export const EMPTY_VIEW: ViewState = { hiddenTypes: new Set(), collapsed: new Set() };

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedNode extends Box {
  node: GraphModelNode;
  /** The header of its card (a user namespace) rather than a cell of the grid. */
  header: boolean;
  /** The card it is drawn in. */
  cardId: string;
}

export interface Card extends Box {
  /** The user namespace's node id, or ORPHANS for what has no owner in the graph. */
  id: string;
  header: GraphNamespaceNode | null;
  depth: number;
  collapsed: boolean;
  /** Nodes inside it and below it (its owned namespaces, processes, sub-cards, theirs): what collapsing hides. */
  below: number;
  /** The card above it in the tree, if any. */
  parentId: string | null;
}

/** A line between drawn nodes: an edge of the model (pid parents, processes). */
export interface DrawnEdge {
  kind: 'parent' | 'process';
  from: string;
  to: string;
  /** SVG path data. */
  path: string;
  /**
   * What the picture already says: a process in a namespace of its own frame (its node names
   * the types), or a PID namespace whose parent is the only one in the frame above. Drawn
   * only on demand (the viewer's selection), or the lines would cover a busy machine.
   */
  implied: boolean;
}

export interface GraphLayout {
  width: number;
  height: number;
  cards: Card[];
  nodes: PlacedNode[];
  /** The user namespace tree: orthogonal lines from a card to its children, SVG path data. */
  treeLines: string[];
  edges: DrawnEdge[];
  legend: Box;
}

export const ORPHANS = 'orphans';
export const NODE_WIDTH = 176;
export const NODE_HEIGHT = 40;
export const HEADER_HEIGHT = 44;
const GAP = 8;
const PAD = 10;
const HEADER_MIN_WIDTH = 300;
const MAX_COLUMNS = 8;
/** Children of a card wrap into a new row beyond this width, so a machine with 60 sandboxes is not one row either. */
const ROW_LIMIT = 2200;
const H_GAP = 28;
const V_GAP = 44;
/** The vertical line that feeds wrapped rows runs this far left of them. */
const TRUNK = 14;
const MARGIN = 16;
export const LEGEND_HEIGHT = 74;
export const LEGEND_WIDTH = 1040;

/** Order of the types inside a card: the hierarchical one first, then by how often people look. */
const TYPE_ORDER = ['pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup', 'time'];

interface CardPlan {
  id: string;
  header: GraphNamespaceNode | null;
  owned: GraphModelNode[];
  children: CardPlan[];
  depth: number;
  parentId: string | null;
  collapsed: boolean;
  below: number;
  width: number;
  height: number;
  /** Of the whole subtree. */
  treeWidth: number;
  treeHeight: number;
  rows: CardPlan[][];
}

function gridShape(count: number): { columns: number; rows: number } {
  if (count === 0) return { columns: 0, rows: 0 };
  const columns = Math.min(MAX_COLUMNS, Math.max(1, Math.ceil(Math.sqrt(count * 1.6))));
  return { columns, rows: Math.ceil(count / columns) };
}

/** The cards: one per user namespace in the graph, plus one for namespaces whose owner is not in it. */
function planCards(model: NamespaceGraphModel, view: ViewState): CardPlan[] {
  const visible = model.nodes.filter((n) => (n.kind === 'namespace' && n.type === 'user') || !view.hiddenTypes.has(n.type));
  const byId = new Map(visible.map((n) => [n.id, n]));
  const cards = new Map<string, CardPlan>();
  const newCard = (id: string, header: GraphNamespaceNode | null): CardPlan => ({
    id, header, owned: [], children: [], depth: 0, parentId: null, collapsed: view.collapsed.has(id), below: 0, width: 0, height: 0, treeWidth: 0, treeHeight: 0, rows: [],
  });
  for (const n of visible) if (n.kind === 'namespace' && n.type === 'user') cards.set(n.id, newCard(n.id, n));
  const orphans = newCard(ORPHANS, null);
  const parentOf = new Map<string, string>();
  const ownerOf = new Map<string, string>();
  for (const e of model.edges) {
    if (e.kind === 'parent') parentOf.set(e.from, e.to);
    else if (e.kind === 'owner') ownerOf.set(e.from, e.to);
  }
  const roots: CardPlan[] = [];
  for (const card of cards.values()) {
    const parent = cards.get(parentOf.get(card.id) ?? '');
    if (parent) card.parentId = parent.id;
    (parent ? parent.children : roots).push(card);
  }
  for (const n of visible) {
    if (n.kind === 'namespace' && n.type === 'user') continue;
    const owner = n.kind === 'process' ? (n.userNamespace === null ? undefined : `ns${n.userNamespace}`) : ownerOf.get(n.id);
    (cards.get(owner ?? '') ?? orphans).owned.push(n);
  }
  for (const card of [...cards.values(), orphans]) card.owned = ordered(card.owned, parentOf, byId);
  if (orphans.owned.length > 0) roots.push(orphans);
  return roots;
}

/** Pid namespaces in tree order (a parent before its children), then the other types, then processes. */
function ordered(nodes: GraphModelNode[], parentOf: ReadonlyMap<string, string>, byId: ReadonlyMap<string, GraphModelNode>): GraphModelNode[] {
  const rank = (n: GraphModelNode): number => (n.kind === 'process' ? TYPE_ORDER.length : TYPE_ORDER.indexOf(n.type));
  const key = (n: GraphModelNode): number => (n.kind === 'process' ? n.pid : n.inode);
  const sorted = [...nodes].sort((a, b) => rank(a) - rank(b) || key(a) - key(b));
  const pids = sorted.filter((n) => n.type === 'pid');
  const inCard = new Set(pids.map((n) => n.id));
  const childrenOf = new Map<string, GraphModelNode[]>();
  const tops: GraphModelNode[] = [];
  for (const n of pids) {
    const parent = parentOf.get(n.id);
    if (parent !== undefined && inCard.has(parent) && byId.has(parent)) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), n]);
    else tops.push(n);
  }
  const pidOrder: GraphModelNode[] = [];
  const walk = (n: GraphModelNode): void => {
    pidOrder.push(n);
    for (const c of childrenOf.get(n.id) ?? []) walk(c);
  };
  for (const n of tops) walk(n);
  return [...pidOrder, ...sorted.filter((n) => n.type !== 'pid')];
}

/** Sizes of each card and subtree, children packed into rows no wider than ROW_LIMIT. */
function measure(card: CardPlan, depth: number): number {
  card.depth = depth;
  let below = card.owned.length;
  for (const child of card.children) below += 1 + measure(child, depth + 1);
  card.below = below;
  const namespaces = card.owned.filter((n) => n.kind === 'namespace').length;
  const grid = gridShape(namespaces);
  const processes = gridShape(card.owned.length - namespaces);
  const columns = Math.max(grid.columns, processes.columns);
  const rows = grid.rows + processes.rows;
  card.width = Math.max(HEADER_MIN_WIDTH, columns * (NODE_WIDTH + GAP) - GAP) + 2 * PAD;
  card.height = PAD + HEADER_HEIGHT + (card.collapsed || rows === 0 ? 0 : GAP + rows * (NODE_HEIGHT + GAP) - GAP) + PAD;
  card.rows = [];
  if (card.collapsed || card.children.length === 0) {
    card.treeWidth = card.width;
    card.treeHeight = card.height;
    return below;
  }
  let row: CardPlan[] = [];
  let rowWidth = 0;
  for (const child of card.children) {
    if (row.length > 0 && rowWidth + H_GAP + child.treeWidth > Math.max(ROW_LIMIT, card.width)) {
      card.rows.push(row);
      row = [];
      rowWidth = 0;
    }
    rowWidth += (row.length > 0 ? H_GAP : 0) + child.treeWidth;
    row.push(child);
  }
  card.rows.push(row);
  const widths = card.rows.map((r) => r.reduce((sum, c) => sum + c.treeWidth, 0) + H_GAP * (r.length - 1));
  const heights = card.rows.map((r) => Math.max(...r.map((c) => c.treeHeight)));
  const indent = card.rows.length > 1 ? TRUNK : 0;
  card.treeWidth = Math.max(card.width, Math.max(...widths) + indent);
  card.treeHeight = card.height + heights.reduce((sum, h) => sum + V_GAP + h, 0);
  return below;
}

interface Placement {
  cards: Card[];
  nodes: PlacedNode[];
  treeLines: string[];
}

function placeCard(card: CardPlan, left: number, top: number, out: Placement): void {
  const x = left + (card.treeWidth - card.width) / 2;
  placeContents(card, x, top, out);
  if (card.collapsed || card.rows.length === 0) return;
  const wrapped = card.rows.length > 1;
  const blockLeft = left + (wrapped ? TRUNK : 0);
  const centre = x + card.width / 2;
  let rowTop = top + card.height + V_GAP;
  const busYs: number[] = [];
  for (const row of card.rows) {
    const rowWidth = row.reduce((sum, c) => sum + c.treeWidth, 0) + H_GAP * (row.length - 1);
    let childLeft = wrapped ? blockLeft : left + (card.treeWidth - rowWidth) / 2;
    const busY = rowTop - V_GAP / 2;
    busYs.push(busY);
    const centres: number[] = [];
    for (const child of row) {
      placeCard(child, childLeft, rowTop, out);
      const childCentre = childLeft + child.treeWidth / 2;
      centres.push(childCentre);
      out.treeLines.push(`M${childCentre},${busY}V${rowTop}`);
      childLeft += child.treeWidth + H_GAP;
    }
    const from = Math.min(...centres, wrapped ? left + TRUNK / 2 : centre);
    const to = Math.max(...centres, wrapped ? left + TRUNK / 2 : centre);
    out.treeLines.push(`M${from},${busY}H${to}`);
    rowTop += Math.max(...row.map((c) => c.treeHeight)) + V_GAP;
  }
  const firstBus = busYs[0] ?? top;
  out.treeLines.push(`M${centre},${top + card.height}V${firstBus}`);
  if (wrapped) {
    out.treeLines.push(`M${Math.min(centre, left + TRUNK / 2)},${firstBus}H${Math.max(centre, left + TRUNK / 2)}`);
    out.treeLines.push(`M${left + TRUNK / 2},${firstBus}V${busYs[busYs.length - 1] ?? firstBus}`);
  }
}

function placeContents(card: CardPlan, x: number, y: number, out: Placement): void {
  out.cards.push({ id: card.id, header: card.header, depth: card.depth, parentId: card.parentId, collapsed: card.collapsed, below: card.below, x, y, width: card.width, height: card.height });
  if (card.header) out.nodes.push({ node: card.header, header: true, cardId: card.id, x: x + PAD, y: y + PAD, width: card.width - 2 * PAD, height: HEADER_HEIGHT });
  if (card.collapsed) return;
  const namespaces = card.owned.filter((n) => n.kind === 'namespace');
  const processes = card.owned.filter((n) => n.kind === 'process');
  let top = y + PAD + HEADER_HEIGHT + GAP;
  for (const group of [namespaces, processes]) {
    const { columns, rows } = gridShape(group.length);
    group.forEach((node, i) => {
      const column = i % columns;
      const row = Math.floor(i / columns);
      out.nodes.push({ node, header: false, cardId: card.id, x: x + PAD + column * (NODE_WIDTH + GAP), y: top + row * (NODE_HEIGHT + GAP), width: NODE_WIDTH, height: NODE_HEIGHT });
    });
    top += rows * (NODE_HEIGHT + GAP);
  }
}

/** A curve from the top of `from` to the bottom of `to` (or between their sides when they are level). */
function curve(from: Box, to: Box): string {
  const fx = from.x + from.width / 2;
  const tx = to.x + to.width / 2;
  if (to.y + to.height <= from.y) {
    const fy = from.y;
    const ty = to.y + to.height;
    const bend = Math.max(24, (fy - ty) / 2);
    return `M${fx},${fy}C${fx},${fy - bend} ${tx},${ty + bend} ${tx},${ty}`;
  }
  if (to.y >= from.y + from.height) {
    const fy = from.y + from.height;
    const ty = to.y;
    const bend = Math.max(24, (ty - fy) / 2);
    return `M${fx},${fy}C${fx},${fy + bend} ${tx},${ty - bend} ${tx},${ty}`;
  }
  // Side by side in one grid row: out of one side, into the other.
  const leftToRight = fx < tx;
  const sx = leftToRight ? from.x + from.width : from.x;
  const ex = leftToRight ? to.x : to.x + to.width;
  const sy = from.y + from.height / 2;
  const ey = to.y + to.height / 2;
  return `M${sx},${sy}C${sx},${sy - 26} ${ex},${ey - 26} ${ex},${ey}`;
}

/** The layout of `model` as the view state shows it. */
export function layoutGraph(model: NamespaceGraphModel, view: ViewState = EMPTY_VIEW): GraphLayout {
  const roots = planCards(model, view);
  for (const root of roots) measure(root, 0);
  const out: Placement = { cards: [], nodes: [], treeLines: [] };
  let left = MARGIN;
  const top = MARGIN + LEGEND_HEIGHT + MARGIN;
  let bottom = top;
  for (const root of roots) {
    placeCard(root, left, top, out);
    left += root.treeWidth + H_GAP * 2;
    bottom = Math.max(bottom, top + root.treeHeight);
  }
  const placed = new Map(out.nodes.map((p) => [p.node.id, p]));
  const parentCard = new Map(out.cards.map((c) => [c.id, c.parentId]));
  const pidsIn = new Map<string, number>();
  for (const p of out.nodes) if (p.node.type === 'pid') pidsIn.set(p.cardId, (pidsIn.get(p.cardId) ?? 0) + 1);
  const edges: DrawnEdge[] = [];
  for (const e of model.edges) {
    if (e.kind === 'owner') continue; // the card says it
    const from = placed.get(e.from);
    const to = placed.get(e.to);
    // User parents are the tree lines between cards.
    if (!from || !to || (from.header && to.header)) continue;
    const implied = e.kind === 'process'
      ? from.cardId === to.cardId
      : to.cardId !== from.cardId && parentCard.get(from.cardId) === to.cardId && pidsIn.get(to.cardId) === 1;
    edges.push({ kind: e.kind, from: e.from, to: e.to, path: curve(from, to), implied });
  }
  const width = Math.max(left - H_GAP * 2 + MARGIN, LEGEND_WIDTH + 2 * MARGIN);
  return { width, height: bottom + MARGIN, cards: out.cards, nodes: out.nodes, treeLines: out.treeLines, edges, legend: { x: MARGIN, y: MARGIN, width: LEGEND_WIDTH, height: LEGEND_HEIGHT } };
}
