import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { graphViewerAssetDirectory, namespaceGraphModel, type NamespaceGraphModel } from '@kmx/plugin-namespaces';
import { ApiError } from '../server/routes.js';

// The Namespaces view: the graph model the namespaces plugin builds from the same discovery
// `kmx ns` uses (run as the server's user, so it holds what that user may see), each
// namespace with what `kmx ns show --json` says of it.

/** Whether the plugin's browser viewer is built (its dist/web). */
export function graphViewerAvailable(): boolean {
  return existsSync(join(graphViewerAssetDirectory(), 'graph-viewer.js'));
}

/** The model; `?type=net,user` selects types (and what connects them), `?processes=false` leaves processes out. */
export async function namespaceGraph(query: URLSearchParams): Promise<NamespaceGraphModel> {
  const types = query.getAll('type').flatMap((t) => t.split(',')).filter((t) => t !== '');
  return namespaceGraphModel({ ...(types.length > 0 ? { types } : {}), processes: query.get('processes') !== 'false' });
}

/** One node's details by its id in the model (`ns<inode>`, `p<pid>`): for a namespace, what kmx ns show --json says. */
export async function namespaceDetails(id: string): Promise<unknown> {
  const node = (await namespaceGraphModel({ processes: true })).nodes.find((n) => n.id === id);
  if (!node) throw new ApiError(404, `no namespace or process ${id} (it may be gone, or hidden from you)`);
  return node.kind === 'namespace' ? node.details : node;
}
