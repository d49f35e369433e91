// A few helpers to build the page with DOM calls: text always goes in as text (never as HTML),
// so nothing a mount's name or a process's command holds can become markup.

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string | boolean> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false) continue;
    node.setAttribute(name, value === true ? '' : value);
  }
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly Child[]>, options: { caption?: string; empty?: string; className?: string } = {}): HTMLElement {
  if (rows.length === 0 && options.empty) return el('p', { class: 'empty' }, options.empty);
  return el('table', options.className ? { class: options.className } : {},
    options.caption ? el('caption', {}, options.caption) : null,
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))));
}

/** A plain object as a definition list, nested objects and arrays as JSON text. */
export function details(value: unknown): HTMLElement {
  if (typeof value !== 'object' || value === null) return el('pre', {}, JSON.stringify(value));
  const list = el('dl');
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const text = typeof item === 'object' && item !== null ? JSON.stringify(item, null, 1) : String(item);
    append(list, el('dt', {}, key), el('dd', {}, typeof item === 'object' && item !== null ? el('pre', {}, text) : text));
  }
  return list;
}

export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}
