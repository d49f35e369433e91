// The viewer's HTML around the picture: the toolbar (refresh, live, type filter, search) and
// the key help. Built with DOM calls only (no innerHTML, no style attributes: strict CSP).

export const KEYS: ReadonlyArray<[string, string]> = [
  ['drag', 'move the picture'],
  ['mouse wheel', 'zoom in and out at the pointer'],
  ['+  -', 'zoom in, zoom out'],
  ['1', 'reset the zoom to 100 %'],
  ['s', 'save the picture as SVG'],
  ['q', 'close the view'],
  ['h', 'show or hide these keys'],
  ['click', 'select a namespace (click the background to clear)'],
];

/** Types the filter offers: user namespaces are the frames everything hangs in, so they stay. */
export const FILTER_TYPES = ['pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup', 'time', 'process'];

export interface Toolbar {
  element: HTMLElement;
  refresh: HTMLButtonElement;
  live: HTMLInputElement;
  status: HTMLElement;
  filters: Map<string, HTMLInputElement>;
  search: HTMLInputElement;
  searchCount: HTMLElement;
  fit: HTMLButtonElement;
  collapseAll: HTMLButtonElement;
  expandAll: HTMLButtonElement;
  help: HTMLButtonElement;
}

function make<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

export function buildToolbar(refreshSeconds: number): Toolbar {
  const element = make('div', 'nsg-toolbar');
  const refresh = make('button', 'nsg-refresh', 'Refresh');
  refresh.type = 'button';
  refresh.title = 'Look at the namespaces again';
  const liveLabel = make('label', 'nsg-live');
  const live = make('input', 'nsg-live-box');
  live.type = 'checkbox';
  live.checked = refreshSeconds > 0;
  live.disabled = refreshSeconds <= 0;
  liveLabel.append(live, ` live, every ${refreshSeconds} s`);
  liveLabel.hidden = refreshSeconds <= 0;
  const status = make('span', 'nsg-status', 'loading…');
  status.setAttribute('role', 'status');

  const filterGroup = make('span', 'nsg-filters');
  const filters = new Map<string, HTMLInputElement>();
  for (const type of FILTER_TYPES) {
    const label = make('label', `nsg-filter nsg-type-${type}`);
    const box = make('input', 'nsg-filter-box');
    box.type = 'checkbox';
    box.checked = true;
    box.value = type;
    label.append(box, type);
    filters.set(type, box);
    filterGroup.append(label);
  }

  const search = make('input', 'nsg-search');
  search.type = 'search';
  search.placeholder = 'inode, pid or command';
  search.setAttribute('aria-label', 'Search by inode, pid or command');
  const searchCount = make('span', 'nsg-search-count');
  const fit = make('button', 'nsg-fit', 'Fit');
  fit.type = 'button';
  fit.title = 'The whole picture in view';
  const collapseAll = make('button', 'nsg-collapse-all', 'Collapse all');
  collapseAll.type = 'button';
  collapseAll.title = 'Every frame below the top ones as its header only';
  const expandAll = make('button', 'nsg-expand-all', 'Expand all');
  expandAll.type = 'button';
  const help = make('button', 'nsg-help-button', '?');
  help.type = 'button';
  help.title = 'Keys (h)';
  element.append(refresh, liveLabel, status, filterGroup, search, searchCount, fit, collapseAll, expandAll, help);
  return { element, refresh, live, status, filters, search, searchCount, fit, collapseAll, expandAll, help };
}

export function buildHelp(): HTMLElement {
  const box = make('div', 'nsg-help');
  box.hidden = true;
  box.append(make('h3', 'nsg-help-title', 'Keys'));
  const table = make('table', 'nsg-help-keys');
  for (const [key, what] of KEYS) {
    const row = table.insertRow();
    row.insertCell().append(make('kbd', '', key));
    row.insertCell().textContent = what;
  }
  box.append(table, make('p', 'nsg-help-note', 'Frames are user namespaces with what they own; type a pid, an inode or a command in the search box and press Enter to go to the next match.'));
  return box;
}
