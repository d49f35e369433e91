import type { Card, GraphLayout, PlacedNode } from './layout.js';
import type { GraphModelNode } from './model.js';

// The picture of a layout as a tree of SVG elements, made into DOM nodes by the browser viewer
// and into text by the static SVG: one drawing for both, so `s` in the viewer saves what
// `kmx ns graph --format svg` writes. Only presentation attributes, never `style`: the viewer
// runs under a strict Content-Security-Policy, and a saved file must look right on its own.

export interface SvgElement {
  tag: string;
  attrs: Record<string, string | number>;
  text?: string;
  children?: SvgElement[];
}

export type NodeStatus = 'appeared' | 'vanished';

export interface DrawOptions {
  /** Nodes that appeared or vanished since the last refresh (vanished ones are still in the model given). */
  status?: ReadonlyMap<string, NodeStatus>;
  /**
   * The viewer: collapse toggles on the cards, and implied edges drawn hidden (its stylesheet
   * shows those of the selected node). The static picture has neither.
   */
  interactive?: boolean;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';
const FONT = 'DejaVu Sans Mono, Menlo, Consolas, monospace';
const FONT_SIZE = 11;
/** Width of one character of FONT at FONT_SIZE: text is cut to fit its box without measuring. */
const CHAR_WIDTH = 6.7;

export const TYPE_COLOURS: Readonly<Record<string, { fill: string; stroke: string }>> = {
  user: { fill: '#dbe8fb', stroke: '#4a6fa5' },
  pid: { fill: '#dcf5dc', stroke: '#3f8f3f' },
  mnt: { fill: '#fde9c9', stroke: '#b07a1e' },
  net: { fill: '#f8d7e8', stroke: '#a94473' },
  ipc: { fill: '#e6dcf7', stroke: '#7050a8' },
  uts: { fill: '#d3eeee', stroke: '#358585' },
  cgroup: { fill: '#efe5cf', stroke: '#806a40' },
  time: { fill: '#ececec', stroke: '#707070' },
  process: { fill: '#ffffff', stroke: '#8a8a8a' },
};
const TREE_COLOUR = '#4a6fa5';
const APPEARED = '#1a9c3a';
const VANISHED = '#c62828';

/**
 * Control characters as \xHH, as lsns prints them: a process may name itself anything
 * (prctl PR_SET_NAME), and XML 1.0 allows none of them, so a saved SVG would not open.
 */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this finds
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const el = (tag: string, attrs: SvgElement['attrs'], children?: SvgElement[], text?: string): SvgElement => ({
  tag, attrs, ...(children ? { children } : {}), ...(text !== undefined ? { text: printable(text) } : {}),
});

function fit(text: string, width: number): string {
  const max = Math.max(4, Math.floor((width - 16) / CHAR_WIDTH));
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** `process "sleep" (1234, 3 procs)` as `sleep (1234) 3 procs`: a grid cell has room for little. */
function compact(summary: string): string {
  const m = /^process "(.*)" \((\d+), (\d+) procs?\)$/.exec(summary);
  if (!m) return summary.replace(/^no process, held by /, 'held by ');
  return m[3] === '1' ? `${m[1]} (${m[2]})` : `${m[1]} (${m[2]}) ${m[3]} procs`;
}

function lines(node: GraphModelNode, header: boolean, card: Card | undefined, within: readonly string[]): [string, string] {
  if (node.kind === 'process') {
    const order = Object.keys(TYPE_COLOURS);
    const types = [...within].sort((a, b) => order.indexOf(a) - order.indexOf(b));
    const where = types.length === order.length - 1 ? 'in all 8 of this frame' : `in ${types.join(' ')}`;
    return [node.label, types.length > 0 ? where : `process, uid ${node.uid}`];
  }
  if (header && card?.collapsed) return [`${node.label}  owner ${node.ownerText}`, `▸ ${card.below} hidden below; ${node.summary}`];
  if (header) return [`${node.label}  owner ${node.ownerText}`, node.summary];
  return [node.label, compact(node.summary)];
}

function drawNode(placed: PlacedNode, status: NodeStatus | undefined, card: Card | undefined, interactive: boolean, within: readonly string[]): SvgElement {
  const { node, width, height } = placed;
  const colour = TYPE_COLOURS[node.type] ?? TYPE_COLOURS.time!;
  const [first, second] = lines(node, placed.header, card, within);
  const title = node.kind === 'namespace' ? `${node.label} ${node.summary}, owner ${node.ownerText}` : `process ${node.pid} "${node.command}" (parent ${node.ppid}, uid ${node.uid})`;
  const box: SvgElement['attrs'] = {
    width, height, rx: node.kind === 'process' ? 2 : 6, fill: colour.fill,
    stroke: status === 'appeared' ? APPEARED : status === 'vanished' ? VANISHED : colour.stroke,
    'stroke-width': status ? 3 : 1.2,
  };
  if (status === 'vanished') box['stroke-dasharray'] = '5 3';
  const toggleRoom = interactive && placed.header ? 26 : 0;
  const children: SvgElement[] = [
    el('title', {}, undefined, title),
    el('rect', { class: 'nsg-box', ...box }),
    el('text', { x: 8, y: placed.header ? 18 : 16, 'font-weight': 'bold' }, undefined, fit(first, width - toggleRoom)),
    el('text', { x: 8, y: placed.header ? 35 : 31, fill: '#333333' }, undefined, fit(second, width - toggleRoom)),
  ];
  if (status) {
    const word = status === 'appeared' ? 'new' : 'gone';
    children.push(el('text', { x: width - 6 - toggleRoom, y: 12, 'text-anchor': 'end', 'font-size': 9, 'font-weight': 'bold', fill: status === 'appeared' ? APPEARED : VANISHED }, undefined, word));
  }
  if (toggleRoom > 0 && card && card.below > 0) {
    children.push(el('g', { class: 'nsg-toggle', 'data-toggle': card.id, transform: `translate(${width - 24},${(height - 18) / 2})` }, [
      el('title', {}, undefined, card.collapsed ? 'show what it owns and the namespaces below' : 'collapse: hide what it owns and the namespaces below'),
      el('rect', { width: 18, height: 18, rx: 3, fill: '#ffffff', stroke: colour.stroke }),
      el('text', { x: 9, y: 13, 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 'bold' }, undefined, card.collapsed ? '+' : '−'),
    ]));
  }
  const attrs: SvgElement['attrs'] = { class: 'nsg-node', 'data-node-id': node.id, 'data-type': node.type, transform: `translate(${placed.x},${placed.y})` };
  if (node.kind === 'namespace' && node.details.id !== null) attrs['data-ns-id'] = node.details.id;
  if (status) {
    attrs['data-status'] = status;
    if (status === 'vanished') attrs.opacity = 0.55;
  }
  return el('g', attrs, children);
}

function drawCard(card: Card): SvgElement {
  const colour = card.header ? TYPE_COLOURS.user! : { fill: '#ffffff', stroke: '#9a9a9a' };
  const children: SvgElement[] = [
    el('rect', { x: card.x, y: card.y, width: card.width, height: card.height, rx: 9, fill: card.depth % 2 === 0 ? '#f6f8fc' : '#fbfcfe', stroke: colour.stroke, 'stroke-dasharray': '6 3' }),
  ];
  if (!card.header) {
    children.push(el('text', { x: card.x + 10, y: card.y + 24, 'font-weight': 'bold' }, undefined, 'owner not in the graph (not accessible, or filtered out)'));
  }
  return el('g', { class: 'nsg-card', 'data-card-id': card.id }, children);
}

function swatch(x: number, y: number, type: string, label: string): SvgElement[] {
  const colour = TYPE_COLOURS[type]!;
  return [
    el('rect', { x, y, width: 14, height: 14, rx: type === 'process' ? 1 : 3, fill: colour.fill, stroke: colour.stroke }),
    el('text', { x: x + 20, y: y + 11 }, undefined, label),
  ];
}

function drawLegend(layout: GraphLayout): SvgElement {
  const { x, y, width, height } = layout.legend;
  const types = ['user', 'pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup', 'time', 'process'];
  const items: SvgElement[] = [
    el('rect', { x, y, width, height, rx: 6, fill: '#ffffff', stroke: '#c8c8c8' }),
    el('text', { x: x + 10, y: y + 20, 'font-weight': 'bold' }, undefined, 'Legend'),
  ];
  types.forEach((type, i) => items.push(...swatch(x + 80 + i * 98, y + 9, type, type)));
  const row = y + 46;
  // Second row: samples of the lines and marks, each followed by its words, left to right.
  let at = x + 10;
  const say = (text: string): void => {
    items.push(el('text', { x: at, y: row + 4 }, undefined, text));
    at += text.length * CHAR_WIDTH + 22;
  };
  items.push(el('rect', { x: at, y: row - 9, width: 30, height: 18, rx: 4, fill: '#f6f8fc', stroke: TREE_COLOUR, 'stroke-dasharray': '6 3' }));
  at += 36;
  say('frame: a user namespace and what it owns');
  items.push(el('path', { d: `M${at},${row - 8}V${row}H${at + 26}V${row + 8}`, fill: 'none', stroke: TREE_COLOUR, 'stroke-width': 1.5 }));
  at += 32;
  say('user ns tree');
  items.push(el('path', { d: `M${at},${row}H${at + 28}`, stroke: TYPE_COLOURS.pid!.stroke, 'stroke-width': 1.5, 'marker-end': 'url(#nsg-arrow)' }));
  at += 34;
  say('pid parent (if not the frame above\'s)');
  items.push(el('path', { d: `M${at},${row}H${at + 26}`, stroke: '#8a8a8a', 'stroke-dasharray': '2 3' }));
  at += 32;
  say('process');
  items.push(el('rect', { x: at, y: row - 7, width: 14, height: 14, rx: 3, fill: '#ffffff', stroke: APPEARED, 'stroke-width': 3 }));
  at += 20;
  say('new');
  items.push(el('rect', { x: at, y: row - 7, width: 14, height: 14, rx: 3, fill: '#ffffff', stroke: VANISHED, 'stroke-width': 3, 'stroke-dasharray': '4 2' }));
  at += 20;
  say('gone');
  return el('g', { class: 'nsg-legend' }, items);
}

/** Everything drawn, as one group: cards, tree lines, edges, nodes, the legend. */
export function drawGraph(layout: GraphLayout, options: DrawOptions = {}): SvgElement {
  const status = options.status ?? new Map<string, NodeStatus>();
  const cards = new Map(layout.cards.map((c) => [c.id, c]));
  const defs = el('defs', {}, [
    el('marker', { id: 'nsg-arrow', viewBox: '0 0 8 8', refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, [
      el('path', { d: 'M0,0L8,4L0,8z', fill: TYPE_COLOURS.pid!.stroke }),
    ]),
  ]);
  const interactive = options.interactive === true;
  const tree = el('path', { class: 'nsg-tree', d: layout.treeLines.join(''), fill: 'none', stroke: TREE_COLOUR, 'stroke-width': 1.5 });
  const types = new Map(layout.nodes.map((p) => [p.node.id, p.node.type]));
  const within = new Map<string, string[]>();
  for (const e of layout.edges) {
    if (e.kind === 'process' && e.implied) within.set(e.from, [...(within.get(e.from) ?? []), types.get(e.to) ?? '?']);
  }
  const edges = layout.edges.filter((e) => interactive || !e.implied).map((e) => el('path', {
    class: 'nsg-edge', 'data-kind': e.kind, 'data-from': e.from, 'data-to': e.to, d: e.path, fill: 'none',
    ...(e.implied ? { 'data-implied': 'yes', visibility: 'hidden' } : {}),
    ...(e.kind === 'parent'
      ? { stroke: TYPE_COLOURS.pid!.stroke, 'stroke-width': 1.5, 'marker-end': 'url(#nsg-arrow)' }
      : { stroke: '#8a8a8a', 'stroke-width': 1, 'stroke-dasharray': '2 3' }),
  }));
  const nodes = layout.nodes.map((p) => drawNode(p, status.get(p.node.id), p.header ? cards.get(p.node.id) : undefined, interactive, within.get(p.node.id) ?? []));
  return el('g', { class: 'nsg-picture', 'font-family': FONT, 'font-size': FONT_SIZE }, [
    defs,
    el('rect', { class: 'nsg-background', x: 0, y: 0, width: layout.width, height: layout.height, fill: '#ffffff' }),
    drawLegend(layout),
    el('g', { class: 'nsg-cards' }, layout.cards.map(drawCard)),
    tree,
    el('g', { class: 'nsg-edges' }, edges),
    el('g', { class: 'nsg-nodes' }, nodes),
  ]);
}

function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** XML text of an element tree. */
export function serialize(element: SvgElement): string {
  const attrs = Object.entries(element.attrs).map(([k, v]) => ` ${k}="${escape(String(v))}"`).join('');
  const inner = (element.text !== undefined ? escape(element.text) : '') + (element.children ?? []).map(serialize).join('');
  return inner === '' ? `<${element.tag}${attrs}/>` : `<${element.tag}${attrs}>${inner}</${element.tag}>`;
}

/** A standalone SVG file of the whole picture. */
export function svgDocument(layout: GraphLayout, options: DrawOptions = {}): string {
  const root = el('svg', {
    xmlns: SVG_NS, width: Math.ceil(layout.width), height: Math.ceil(layout.height), viewBox: `0 0 ${Math.ceil(layout.width)} ${Math.ceil(layout.height)}`,
  }, [el('title', {}, undefined, 'Linux namespaces: kmx ns graph'), drawGraph(layout, options)]);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${serialize(root)}\n`;
}
