import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { toSysError } from '@kmx/core';
import { NamespaceCommand } from '../../lib/cli/namespace-command.js';
import { buildGraph, toDot, type GraphEdge, type GraphNode } from '../../lib/render/graph.js';
import { graphModelOf } from '../../lib/graph-model.js';
import { graphSvg } from '../../lib/graph-view/index.js';
import { inaccessibleJson, SCHEMA_VERSION, type InaccessibleJson } from '../../lib/render/json.js';
import { NAMESPACE_TYPES } from '../../lib/nsfs/types.js';

export interface GraphJson {
  schemaVersion: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Where the drawing went (with -o), else null. */
  output: string | null;
  inaccessible: InaccessibleJson;
}

export default class Graph extends NamespaceCommand {
  static override summary = 'Draw the namespace relation graph (parents, owners, optionally processes) as DOT or SVG.';
  static override description = `SVG: each user namespace is a frame holding the namespaces it owns, and the frames form the user namespace tree, top-down; PID namespaces point to their parents (green arrows); with --processes, the topmost processes of each namespace are added (dotted lines); a legend on top. It is the picture kmx ui's viewer shows, drawn by kmx itself.
DOT, for Graphviz: edges point from a namespace to its parent (solid) and to its owning user namespace (dashed); processes are dotted. Without -o the drawing goes to standard output; with --json the graph is printed as nodes and edges (and still written to -o).`;

  static override examples = [
    { description: 'Render the whole graph', command: '<%= config.bin %> ns graph --format svg -o namespaces.svg' },
    { description: 'Pipe DOT to Graphviz yourself', command: '<%= config.bin %> ns graph | dot -Tpng > ns.png' },
    { description: 'Network namespaces, their owners and processes', command: '<%= config.bin %> ns graph --type net --processes' },
  ];

  static override flags = {
    format: Flags.option({ options: ['dot', 'svg'] as const, default: 'dot' as const, description: 'Output format.' })(),
    output: Flags.string({ char: 'o', description: 'Write the drawing to this file instead of standard output.' }),
    type: Flags.option({ char: 't', options: NAMESPACE_TYPES, multiple: true, description: 'Only this type and the namespaces that connect it (repeatable).' })(),
    processes: Flags.boolean({ description: 'Add the topmost processes of each namespace.' }),
    view: Flags.boolean({ description: 'Open the graph in kmx ui instead: the namespaces view of a kmx ui server of yours that is running, or of a new one (as kmx ui --reuse --view ns).' }),
  };

  async run(): Promise<GraphJson> {
    const { flags } = await this.parse(Graph);
    if (flags.view) return this.exit(await openInUi());
    const snapshot = await this.discovery().discover();
    const options = { types: flags.type ?? [], processes: flags.processes };
    const graph = buildGraph(snapshot, options);
    // SVG is kmx's own layout (the viewer's picture); DOT stays for those who draw with Graphviz.
    const drawing = flags.format === 'svg' ? graphSvg(graphModelOf(snapshot, options)) : toDot(graph);
    if (flags.output !== undefined) {
      await writeFile(flags.output, drawing).catch((err: unknown) => {
        throw toSysError(err);
      });
    } else if (!this.jsonEnabled()) {
      process.stdout.write(drawing);
    }
    this.reportInaccessible(snapshot, flags.verbose);
    return { schemaVersion: SCHEMA_VERSION, ...graph, output: flags.output ?? null, inaccessible: inaccessibleJson(snapshot) };
  }
}

/**
 * `kmx ui --reuse --view ns` as a child of this very kmx (kmx ui depends on this plugin, not
 * the other way round); its exit status is ours. Ctrl-C reaches both; SIGTERM is passed on.
 */
function openInUi(): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [process.argv[1]!, 'ui', '--reuse', '--view', 'ns'], { stdio: 'inherit' });
    const ignore = (): void => undefined;
    const forward = (): void => void child.kill('SIGTERM');
    process.on('SIGINT', ignore);
    process.on('SIGTERM', forward);
    child.on('error', () => resolve(1));
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 1));
    });
  });
}
