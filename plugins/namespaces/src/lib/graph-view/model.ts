import type { NamespaceJson } from '../render/json.js';
import type { Inaccessible } from '../discovery/model.js';

// The namespace graph as plain JSON: what the server sends the browser viewer and what the
// static SVG is drawn from. Types only, so the browser bundle carries none of the Node side.

export type GraphNamespaceType = NamespaceJson['type'];

/** What `kmx ns show --json` gives for one namespace: its JSON, its ancestors, what it owns. */
export interface GraphNamespaceDetails extends NamespaceJson {
  /** Parents up to the root, nearest first (user and PID namespaces), by inode. */
  ancestors: number[];
  /** For a user namespace: the namespaces of other types it owns, by inode. */
  owns: number[];
}

export interface GraphNamespaceNode {
  kind: 'namespace';
  /** `ns<inode>`: stable across refreshes while the namespace lives. */
  id: string;
  type: GraphNamespaceType;
  inode: number;
  /** `net:[4026531833]` */
  label: string;
  /** One line on what is in it: `process "sleep" (1234, 3 procs)` or what holds it. */
  summary: string;
  /** `root (0)`: the uid that created it (user) or that of its owning user namespace. */
  ownerText: string;
  details: GraphNamespaceDetails;
}

export interface GraphProcessNode {
  kind: 'process';
  /** `p<pid>` */
  id: string;
  type: 'process';
  pid: number;
  /** `1234 sleep` */
  label: string;
  command: string;
  ppid: number;
  uid: number;
  /** The user namespace it is in, by inode, when that could be read. */
  userNamespace: number | null;
}

export type GraphModelNode = GraphNamespaceNode | GraphProcessNode;

export interface GraphModelEdge {
  /** parent: child → parent; owner: namespace → owning user namespace; process: process → a namespace it is topmost in. */
  kind: 'parent' | 'owner' | 'process';
  from: string;
  to: string;
}

export interface NamespaceGraphModel {
  schemaVersion: number;
  /** When discovery ran (ISO 8601). */
  generatedAt: string;
  nodes: GraphModelNode[];
  edges: GraphModelEdge[];
  inaccessible: { count: number; items: Inaccessible[] };
}

export const GRAPH_NAMESPACE_TYPES: readonly GraphNamespaceType[] = ['user', 'pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup', 'time'];
