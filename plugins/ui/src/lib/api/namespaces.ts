import * as namespacesPlugin from '@kmx/plugin-namespaces';
import { ApiError } from '../server/routes.js';
import { kmxOrFail, type KmxExecutable } from './kmx-child.js';

// The Namespaces view: the graph model the namespaces plugin builds from the same discovery
// `kmx ns` uses, and a namespace's details as `kmx ns show --json` gives them. While that
// plugin's model is not there, the list of `kmx ns list --json` stands in for it.

type GraphModelFunction = (options?: { types?: string[]; processes?: boolean }) => Promise<unknown>;
type DetailsFunction = (id: string) => Promise<unknown>;

/** The plugin's exports, looked up by name so that this builds whether or not they exist yet. */
function exported<T>(name: string): T | undefined {
  const value = (namespacesPlugin as Record<string, unknown>)[name];
  return typeof value === 'function' ? (value as T) : undefined;
}

export function graphModelAvailable(): boolean {
  return exported<GraphModelFunction>('namespaceGraphModel') !== undefined;
}

interface ListedNamespace {
  ns: number;
  type: string;
  pid: number | null;
  [key: string]: unknown;
}

async function listed(kmx: KmxExecutable, types: string[]): Promise<ListedNamespace[]> {
  const args = ['ns', 'list', '--json', ...types.map((t) => `--type=${t}`)];
  const parsed = JSON.parse(await kmxOrFail(kmx, args, 'kmx ns list')) as { namespaces?: ListedNamespace[] };
  return parsed.namespaces ?? [];
}

const TYPE = /^(mnt|net|pid|user|uts|ipc|cgroup|time)$/;

function typesOf(query: URLSearchParams): string[] {
  const types = query.getAll('type').flatMap((t) => t.split(',')).filter((t) => t !== '');
  for (const t of types) if (!TYPE.test(t)) throw new ApiError(400, `unknown namespace type ${t}`);
  return types;
}

/** The graph model (or, without it, `{ list }` from kmx ns list). */
export async function namespaceGraph(kmx: KmxExecutable, query: URLSearchParams): Promise<unknown> {
  const types = typesOf(query);
  const model = exported<GraphModelFunction>('namespaceGraphModel');
  if (model) return model({ ...(types.length > 0 ? { types } : {}), processes: query.get('processes') !== 'false' });
  return { list: await listed(kmx, types) };
}

/** One namespace's details, by the node id the graph gives (or type:[inode]). */
export async function namespaceDetails(kmx: KmxExecutable, id: string): Promise<unknown> {
  const details = exported<DetailsFunction>('namespaceDetails');
  if (details) return details(id);
  const model = exported<GraphModelFunction>('namespaceGraphModel');
  if (model) {
    // The model carries each node's details (what kmx ns show --json says).
    const graph = (await model({ processes: true })) as { nodes?: Array<{ id: string; details?: unknown }> };
    const node = graph.nodes?.find((n) => n.id === id);
    if (!node) throw new ApiError(404, `no namespace ${id} (it may be gone, or hidden from you)`);
    return node.details ?? node;
  }
  const match = /^(?:[a-z]+:)?\[?(\d+)\]?$/.exec(id.replace(/^([a-z]+):/, '$1:'));
  const inode = match ? Number(match[1]) : Number.NaN;
  if (!Number.isSafeInteger(inode)) throw new ApiError(400, `not a namespace id: ${id}`);
  const entry = (await listed(kmx, [])).find((n) => n.ns === inode);
  if (!entry) throw new ApiError(404, `no namespace ${id} (it may be gone, or hidden from you)`);
  if (entry.pid === null) return { listed: entry };
  const show = await kmxOrFail(kmx, ['ns', 'show', `/proc/${entry.pid}/ns/${entry.type}`, '--json'], 'kmx ns show').catch(() => undefined);
  return show === undefined ? { listed: entry } : { listed: entry, show: JSON.parse(show) as unknown };
}
