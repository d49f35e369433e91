import { describeFailure, getJson, type Session } from '../api.js';
import { append, clear, details, el } from '../dom.js';
import { notify, type ViewHandle } from '../shell.js';

// The namespaces view: the graph viewer the namespaces plugin builds (loaded from this origin),
// with the selected namespace's details beside it. `q` in the viewer closes it (back to the
// overview).

/** A variable, not a literal: the bundler leaves the import to the browser. */
const GRAPH_VIEWER_URL: string = '/assets/ns/graph-viewer.js';

interface GraphViewer {
  refresh(): Promise<void>;
  destroy(): void;
}

interface GraphViewerModule {
  mountGraphViewer(container: HTMLElement, options: { load(): Promise<unknown>; onSelect?(nodeId: string | null): void; onClose?(): void; refreshSeconds?: number }): GraphViewer;
}

interface ModelNode {
  id: string;
  label?: string;
  details?: unknown;
  [key: string]: unknown;
}

/** The details of a node: from the model the viewer last loaded (what `kmx ns show --json` says), else asked of the server. */
async function showDetails(panel: HTMLElement, id: string | null, model: { nodes?: ModelNode[] } | undefined): Promise<void> {
  clear(panel);
  if (id === null) return;
  const node = model?.nodes?.find((n) => n.id === id);
  if (node) {
    const { details: nodeDetails, ...rest } = node;
    append(panel, el('h3', {}, node.label ?? id), details(nodeDetails ?? rest));
    return;
  }
  append(panel, el('h3', {}, id), el('p', {}, 'loading…'));
  try {
    const info = await getJson<unknown>(`/api/ns/details/${encodeURIComponent(id)}`);
    clear(panel);
    append(panel, el('h3', {}, id), details(info));
  } catch (err) {
    clear(panel);
    append(panel, el('h3', {}, id), el('p', { class: 'error' }, describeFailure(err)));
  }
}

export function namespacesView(root: HTMLElement, sessionPromise: Promise<Session>, close: () => void): ViewHandle {
  const graph = el('div', { id: 'ns-graph', class: 'ns-graph' });
  const panel = el('aside', { id: 'ns-details', class: 'ns-details' });
  append(root, el('h2', {}, 'Namespaces'), el('div', { class: 'ns-layout' }, graph, panel));
  let viewer: GraphViewer | undefined;
  let alive = true;
  const start = (session: Session): void => {
    if (!session.graphViewer) {
      append(graph, el('p', { class: 'error' }, 'The namespace graph viewer is not built (npm run build builds it).'));
      return;
    }
    import(GRAPH_VIEWER_URL)
      .then((module: GraphViewerModule) => {
        if (!alive) return;
        let model: { nodes?: ModelNode[] } | undefined;
        viewer = module.mountGraphViewer(graph, {
          load: async () => (model = await getJson<{ nodes?: ModelNode[] }>('/api/ns/graph')),
          onSelect: (id) => void showDetails(panel, id, model),
          onClose: close,
          refreshSeconds: 10,
        });
      })
      .catch((err: unknown) => notify(`the graph viewer did not load: ${describeFailure(err)}`, true));
  };
  sessionPromise.then((session) => {
    if (alive) start(session);
  }, () => undefined);
  return { destroy: () => { alive = false; viewer?.destroy(); } };
}
