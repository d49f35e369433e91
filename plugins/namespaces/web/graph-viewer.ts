import { layoutGraph, type GraphLayout, type PlacedNode } from '../src/lib/graph-view/layout.js';
import type { NamespaceGraphModel } from '../src/lib/graph-view/model.js';
import { drawGraph, SVG_NS, type NodeStatus, type SvgElement } from '../src/lib/graph-view/scene.js';
import { compareModels } from './live.js';
import { cardsToOpen, matches } from './search.js';
import { buildHelp, buildToolbar } from './toolbar.js';
import { Viewport } from './viewport.js';

// The namespace graph viewer of kmx ui: mountGraphViewer(container, { load }) draws the graph
// of namespaces the page's load() returns, with linuxns-rel graphns's controls (drag, wheel,
// + - 1 s q h), collapse, type filter, search, and live refresh that marks what appeared and
// vanished. Everything runs from this file and graph-viewer.css beside it: no network, no
// eval, no style attributes.

export type { NamespaceGraphModel } from '../src/lib/graph-view/model.js';

export interface GraphViewerOptions {
  load(): Promise<NamespaceGraphModel>;
  /** A node was clicked (its id), or the background (null). */
  onSelect?(nodeId: string | null): void;
  /** `q` was pressed; the viewer has already taken itself down. */
  onClose?(): void;
  /** Refresh this often while "live" is ticked (off when absent or 0). */
  refreshSeconds?: number;
}

export interface GraphViewer {
  refresh(): Promise<void>;
  destroy(): void;
}

const ZOOM_STEP = 1.25;
/** A pointer that moves less than this between down and up clicked rather than dragged. */
const CLICK_SLOP = 4;

function ensureStylesheet(): void {
  const href = new URL('./graph-viewer.css', import.meta.url).href;
  if ([...document.querySelectorAll<HTMLLinkElement>('link[rel="stylesheet"]')].some((l) => l.href === href)) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = href;
  document.head.append(link);
}

function toDom(element: SvgElement): SVGElement {
  const node = document.createElementNS(SVG_NS, element.tag);
  for (const [name, value] of Object.entries(element.attrs)) node.setAttribute(name, String(value));
  if (element.text !== undefined) node.textContent = element.text;
  for (const child of element.children ?? []) node.append(toDom(child));
  return node;
}

export function mountGraphViewer(container: HTMLElement, options: GraphViewerOptions): GraphViewer {
  ensureStylesheet();
  const refreshSeconds = Math.max(0, options.refreshSeconds ?? 0);
  const root = document.createElement('div');
  root.className = 'nsg-root';
  root.tabIndex = 0;
  const toolbar = buildToolbar(refreshSeconds);
  const stage = document.createElement('div');
  stage.className = 'nsg-stage';
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.classList.add('nsg-svg');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Namespace graph');
  const help = buildHelp();
  stage.append(svg, help);
  root.append(toolbar.element, stage);
  container.append(root);

  const viewport = new Viewport(svg);
  let previous: NamespaceGraphModel | undefined;
  let shown: NamespaceGraphModel | undefined;
  let status = new Map<string, NodeStatus>();
  let layout: GraphLayout | undefined;
  let placed = new Map<string, PlacedNode>();
  const hiddenTypes = new Set<string>();
  const collapsed = new Set<string>();
  let selected: string | null = null;
  let matchIds: string[] = [];
  let matchIndex = -1;
  let loading: Promise<void> | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let destroyed = false;
  let firstDraw = true;

  function render(): void {
    if (!shown) return;
    const started = performance.now();
    layout = layoutGraph(shown, { hiddenTypes, collapsed });
    const laidOut = performance.now();
    placed = new Map(layout.nodes.map((p) => [p.node.id, p]));
    svg.replaceChildren(toDom(drawGraph(layout, { status, interactive: true })));
    viewport.setPicture(layout.width, layout.height);
    if (firstDraw) {
      viewport.home();
      firstDraw = false;
    } else {
      viewport.apply();
    }
    markSelection();
    markMatches();
    svg.dataset.nodes = String(layout.nodes.length);
    svg.dataset.layoutMs = (laidOut - started).toFixed(1);
    svg.dataset.renderMs = (performance.now() - started).toFixed(1);
  }

  /** The edges of `id` drawn lit (shown even when implied, and thicker), or none. */
  function light(attribute: 'data-lit' | 'data-hover', id: string | null): void {
    for (const path of svg.querySelectorAll(`.nsg-edge[${attribute}]`)) path.removeAttribute(attribute);
    if (id === null) return;
    const quoted = CSS.escape(id);
    for (const path of svg.querySelectorAll(`.nsg-edge[data-from="${quoted}"], .nsg-edge[data-to="${quoted}"]`)) path.setAttribute(attribute, 'yes');
  }

  function markSelection(): void {
    for (const g of svg.querySelectorAll('.nsg-node[data-selected]')) g.removeAttribute('data-selected');
    if (selected !== null) svg.querySelector(`.nsg-node[data-node-id="${CSS.escape(selected)}"]`)?.setAttribute('data-selected', 'yes');
    light('data-lit', selected);
  }

  function markMatches(): void {
    const query = toolbar.search.value;
    const active = query.trim() !== '' && shown !== undefined;
    matchIds = active ? shown!.nodes.filter((n) => matches(n, query)).map((n) => n.id) : [];
    const hits = new Set(matchIds);
    svg.classList.toggle('nsg-searching', active);
    for (const g of svg.querySelectorAll<SVGGElement>('.nsg-node')) {
      if (active) g.setAttribute('data-match', hits.has(g.dataset.nodeId ?? '') ? 'yes' : 'no');
      else g.removeAttribute('data-match');
    }
    const drawn = matchIds.filter((id) => placed.has(id)).length;
    toolbar.searchCount.textContent = active ? `${matchIds.length} match${matchIds.length === 1 ? '' : 'es'}${drawn < matchIds.length ? ` (${matchIds.length - drawn} hidden: Enter shows)` : ''}` : '';
  }

  /** Enter in the search box: open what hides the matches, then go to the next one. */
  function nextMatch(): void {
    if (!shown || matchIds.length === 0) return;
    const opened = cardsToOpen(shown, new Set(matchIds));
    const hiddenBefore = [...opened].some((c) => collapsed.has(c));
    for (const c of opened) collapsed.delete(c);
    if (hiddenBefore) render();
    matchIndex = (matchIndex + 1) % matchIds.length;
    const target = placed.get(matchIds[matchIndex]!);
    if (target) viewport.centreOn(target.x + target.width / 2, target.y + target.height / 2);
  }

  function select(id: string | null): void {
    selected = id;
    markSelection();
    options.onSelect?.(id);
  }

  async function refresh(): Promise<void> {
    if (destroyed) return;
    if (loading) return loading;
    toolbar.status.textContent = 'loading…';
    loading = (async () => {
      try {
        const model = await options.load();
        if (destroyed) return;
        const comparison = compareModels(previous, model);
        previous = model;
        shown = comparison.model;
        status = comparison.status;
        render();
        const time = new Date(model.generatedAt).toLocaleTimeString();
        const namespaces = model.nodes.filter((n) => n.kind === 'namespace').length;
        const changes = comparison.appeared + comparison.vanished > 0 ? `; ${comparison.appeared} new, ${comparison.vanished} gone` : '';
        const hidden = model.inaccessible.count > 0 ? `; ${model.inaccessible.count} not accessible` : '';
        toolbar.status.textContent = `${namespaces} namespaces at ${time}${changes}${hidden}`;
        root.dataset.appeared = String(comparison.appeared);
        root.dataset.vanished = String(comparison.vanished);
        root.dataset.loaded = model.generatedAt;
      } catch (err) {
        toolbar.status.textContent = `refresh failed: ${err instanceof Error ? err.message : String(err)}`;
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  function setLive(on: boolean): void {
    if (timer !== undefined) clearInterval(timer);
    timer = on && refreshSeconds > 0 ? setInterval(() => void refresh(), refreshSeconds * 1000) : undefined;
  }

  function save(): void {
    if (!layout) return;
    const copy = svg.cloneNode(true) as SVGSVGElement;
    copy.removeAttribute('class');
    for (const name of [...copy.getAttributeNames()]) if (name.startsWith('data-') || name === 'role' || name === 'aria-label') copy.removeAttribute(name);
    for (const toggle of copy.querySelectorAll('.nsg-toggle')) toggle.remove();
    const width = Math.ceil(layout.width);
    const height = Math.ceil(layout.height);
    copy.setAttribute('viewBox', `0 0 ${width} ${height}`);
    copy.setAttribute('width', String(width));
    copy.setAttribute('height', String(height));
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(copy)}\n`;
    const url = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = 'namespaces.svg';
    link.hidden = true;
    root.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  function toggleHelp(show = help.hidden): void {
    help.hidden = !show;
    root.dataset.help = show ? 'shown' : 'hidden';
  }

  function close(): void {
    destroy();
    options.onClose?.();
  }

  /** Where keys are text: the search box (buttons and check boxes of the toolbar leave the keys to the viewer). */
  function typing(target: EventTarget | null): boolean {
    if (!(target instanceof HTMLElement)) return false;
    if (target instanceof HTMLInputElement) return target.type !== 'checkbox' && target.type !== 'button';
    return target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || target.isContentEditable;
  }

  // Keys on the viewer (it takes the focus), never from a field being typed in.
  function onKey(event: KeyboardEvent): void {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === 'Enter' && event.target === toolbar.search) nextMatch();
      if (event.key === 'Escape') root.focus();
      return;
    }
    const actions: Record<string, () => void> = {
      '+': () => viewport.zoomBy(ZOOM_STEP),
      '=': () => viewport.zoomBy(ZOOM_STEP),
      '-': () => viewport.zoomBy(1 / ZOOM_STEP),
      '1': () => viewport.resetZoom(),
      s: save,
      q: close,
      h: () => toggleHelp(),
      '?': () => toggleHelp(),
      Escape: () => toggleHelp(false),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }

  let drag: { id: number; x: number; y: number; startX: number; startY: number; moved: boolean } | undefined;
  function onPointerDown(event: PointerEvent): void {
    if (event.button !== 0) return;
    root.focus({ preventScroll: true });
    drag = { id: event.pointerId, x: event.clientX, y: event.clientY, startX: event.clientX, startY: event.clientY, moved: false };
    svg.setPointerCapture(event.pointerId);
  }
  function onPointerMove(event: PointerEvent): void {
    if (!drag || event.pointerId !== drag.id) return;
    if (!drag.moved && Math.hypot(event.clientX - drag.startX, event.clientY - drag.startY) < CLICK_SLOP) return;
    drag.moved = true;
    svg.classList.add('nsg-dragging');
    viewport.panBy(event.clientX - drag.x, event.clientY - drag.y);
    drag.x = event.clientX;
    drag.y = event.clientY;
  }
  function onPointerUp(event: PointerEvent): void {
    if (!drag || event.pointerId !== drag.id) return;
    const clicked = !drag.moved;
    drag = undefined;
    svg.classList.remove('nsg-dragging');
    if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
    if (!clicked) return;
    // Pointer capture sends the up to the svg: find what lies under the pointer.
    const under = document.elementFromPoint(event.clientX, event.clientY);
    const toggle = under?.closest<SVGElement>('[data-toggle]');
    if (toggle) {
      const id = toggle.dataset.toggle ?? '';
      if (collapsed.has(id)) collapsed.delete(id);
      else collapsed.add(id);
      render();
      return;
    }
    select(under?.closest<SVGElement>('[data-node-id]')?.dataset.nodeId ?? null);
  }
  function onWheel(event: WheelEvent): void {
    event.preventDefault();
    const rect = svg.getBoundingClientRect();
    const lines = event.deltaMode === 1 ? 33 : event.deltaMode === 2 ? 400 : 1;
    viewport.zoomAt(Math.pow(1.0015, -event.deltaY * lines), event.clientX - rect.left, event.clientY - rect.top);
  }

  let hovered: string | null = null;
  function onPointerOver(event: PointerEvent): void {
    const id = (event.target as Element | null)?.closest<SVGElement>('[data-node-id]')?.dataset.nodeId ?? null;
    if (id === hovered || drag?.moved) return;
    hovered = id;
    light('data-hover', id);
  }

  root.addEventListener('keydown', onKey);
  svg.addEventListener('pointerover', onPointerOver);
  svg.addEventListener('pointerdown', onPointerDown);
  svg.addEventListener('pointermove', onPointerMove);
  svg.addEventListener('pointerup', onPointerUp);
  svg.addEventListener('pointercancel', onPointerUp);
  svg.addEventListener('wheel', onWheel, { passive: false });
  toolbar.refresh.addEventListener('click', () => void refresh());
  toolbar.live.addEventListener('change', () => setLive(toolbar.live.checked));
  toolbar.fit.addEventListener('click', () => viewport.fit());
  // Collapsing every frame below the top ones leaves one header per user namespace: a large
  // machine's outline, to open where needed (search opens what hides its matches).
  toolbar.collapseAll.addEventListener('click', () => {
    for (const card of layout?.cards ?? []) if (card.depth > 0 && card.below > 0) collapsed.add(card.id);
    render();
  });
  toolbar.expandAll.addEventListener('click', () => {
    collapsed.clear();
    render();
  });
  toolbar.help.addEventListener('click', () => toggleHelp());
  toolbar.search.addEventListener('input', () => {
    matchIndex = -1;
    markMatches();
  });
  for (const [type, box] of toolbar.filters) {
    box.addEventListener('change', () => {
      if (box.checked) hiddenTypes.delete(type);
      else hiddenTypes.add(type);
      render();
    });
  }
  const resize = new ResizeObserver(() => viewport.apply());
  resize.observe(svg);

  function destroy(): void {
    if (destroyed) return;
    destroyed = true;
    setLive(false);
    resize.disconnect();
    root.remove();
  }

  root.focus({ preventScroll: true });
  setLive(toolbar.live.checked);
  void refresh();
  return { refresh, destroy };
}
