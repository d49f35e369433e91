import { KmxError, pluginContainer } from '@kmx/core';
import { NamespaceDiscovery } from './discovery/discover.js';
import type { NamespaceSnapshot } from './discovery/model.js';
import type { GraphModelEdge, GraphModelNode, NamespaceGraphModel } from './graph-view/model.js';
import { NAMESPACE_TYPES, isNamespaceType, type NamespaceType } from './nsfs/types.js';
import { labelOf, occupancy, userText } from './render/describe.js';
import { selectNamespaces } from './render/graph.js';
import { inaccessibleJson, namespaceJson, SCHEMA_VERSION } from './render/json.js';

// The namespace graph as JSON for the browser viewer (kmx ui) and the static SVG: the same
// discovery and the same selection as `kmx ns graph`, each namespace with what `kmx ns show
// --json` says about it.

export interface GraphModelOptions {
  /** Only these types and the namespaces that connect them (all when empty or absent). */
  types?: readonly string[];
  /** Add the topmost processes of each namespace. */
  processes?: boolean;
}

/** The types named, checked: an unknown name is a one-line error naming the eight. */
export function parseTypes(types: readonly string[] | undefined): NamespaceType[] {
  return (types ?? []).map((type) => {
    if (!isNamespaceType(type)) throw new KmxError(`unknown namespace type "${type}"`, { hint: `use one of ${NAMESPACE_TYPES.join(', ')}` });
    return type;
  });
}

function ancestorsOf(inode: number, snapshot: NamespaceSnapshot): number[] {
  const chain: number[] = [];
  for (let p = snapshot.namespaces.get(inode)?.parent; p !== undefined && !chain.includes(p); p = snapshot.namespaces.get(p)?.parent) chain.push(p);
  return chain;
}

/** The graph model of one snapshot. */
export function graphModelOf(snapshot: NamespaceSnapshot, options: GraphModelOptions = {}): NamespaceGraphModel {
  const records = selectNamespaces(snapshot, parseTypes(options.types));
  const chosen = new Set(records.map((r) => r.inode));
  const owned = new Map<number, number[]>();
  for (const r of snapshot.namespaces.values()) {
    if (r.type === 'user' || r.owner === undefined) continue;
    const list = owned.get(r.owner) ?? [];
    list.push(r.inode);
    owned.set(r.owner, list);
  }
  const nodes: GraphModelNode[] = [];
  const edges: GraphModelEdge[] = [];
  for (const r of records) {
    const id = `ns${r.inode}`;
    nodes.push({
      kind: 'namespace', id, type: r.type, inode: r.inode, label: labelOf(r),
      summary: occupancy(r, snapshot),
      ownerText: userText(r.ownerUid, r.ownerName),
      details: { ...namespaceJson(r, snapshot), ancestors: ancestorsOf(r.inode, snapshot), owns: owned.get(r.inode) ?? [] },
    });
    if (r.parent !== undefined && chosen.has(r.parent)) edges.push({ kind: 'parent', from: id, to: `ns${r.parent}` });
    // A user namespace's owner is its parent: the parent edge says it.
    if (r.type !== 'user' && r.owner !== undefined && chosen.has(r.owner)) edges.push({ kind: 'owner', from: id, to: `ns${r.owner}` });
  }
  if (options.processes === true) {
    const seen = new Set<number>();
    for (const r of records) {
      for (const pid of r.topmost) {
        if (!seen.has(pid)) {
          seen.add(pid);
          const p = snapshot.processes.get(pid);
          const command = p?.command ?? '?';
          nodes.push({
            kind: 'process', id: `p${pid}`, type: 'process', pid, label: `${pid} ${command}`, command,
            ppid: p?.ppid ?? 0, uid: p?.uid ?? -1, userNamespace: p?.namespaces.user ?? null,
          });
        }
        edges.push({ kind: 'process', from: `p${pid}`, to: `ns${r.inode}` });
      }
    }
  }
  return { schemaVersion: SCHEMA_VERSION, generatedAt: new Date().toISOString(), nodes, edges, inaccessible: inaccessibleJson(snapshot) };
}

/**
 * Runs the discovery `kmx ns` uses and returns the graph: the namespaces this user can see,
 * their parent, owner and (with `processes`) process edges, and what could not be looked at.
 */
export async function namespaceGraphModel(options: GraphModelOptions = {}): Promise<NamespaceGraphModel> {
  const types = parseTypes(options.types); // bad input fails before discovery runs
  const discovery = pluginContainer('@kmx/plugin-namespaces').resolve(NamespaceDiscovery);
  return graphModelOf(await discovery.discover(), { types, processes: options.processes ?? false });
}
