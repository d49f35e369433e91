// The namespace graph at growing sizes (synthetic machines of 30 to 1000 namespaces): the
// browser viewer's layout and drawing in headless Chromium, and the static SVG kmx ns graph
// --format svg writes, each against Graphviz's dot -Tsvg on the same graph's DOT (the way kmx
// drew SVG before); and kmx's layout alone against dagre's (a layered layout, the library the
// plugin had for it) on the same nodes and edges. The goal: 300 namespaces laid out and drawn
// in under 1 s in the browser.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchBrowser } from '@kmx/core/testing/browser';
import { median } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { BENCH_DIR, runIfMain } from './lib/workdir.js';

export const name = 'kmx ns graph';
export const peer = 'Graphviz dot -Tsvg';

const SIZES = [30, 100, 300, 1000];
const ROUNDS = 5;
const PLUGIN = join(BENCH_DIR, '..', 'plugins', 'namespaces', 'dist');

interface Snapshot {
  namespaces: Map<number, unknown>;
}
interface Model {
  nodes: Array<{ id: string }>;
  edges: Array<{ from: string; to: string }>;
}
/** What the benchmark uses of @dagrejs/dagre. */
interface Dagre {
  graphlib: { Graph: new () => DagreGraph };
  layout(graph: DagreGraph): void;
}
interface DagreGraph {
  setGraph(label: object): void;
  setDefaultEdgeLabel(label: () => object): void;
  setNode(id: string, label: { width: number; height: number }): void;
  setEdge(from: string, to: string): void;
  graph(): { width?: number; height?: number };
}
/** The parts of the namespaces plugin measured; loaded from its build, which bench does not depend on. */
interface Library {
  syntheticSnapshot(count: number): Snapshot;
  graphModelOf(snapshot: Snapshot): Model;
  graphSvg(model: Model): string;
  layoutGraph(model: Model): { width: number; height: number };
  buildGraph(snapshot: Snapshot, options: { types: string[]; processes: boolean }): unknown;
  toDot(graph: unknown): string;
  startViewerPage(model: (query: URLSearchParams) => Promise<Model>): Promise<{ url: string; close(): Promise<void> }>;
}

async function load(): Promise<Library> {
  const from = (file: string): Promise<Record<string, unknown>> => import(pathToFileURL(join(PLUGIN, file)).href) as Promise<Record<string, unknown>>;
  // The viewer's test page (a strict CSP, the module from graphViewerAssetDirectory()), so the figures are those of the tested set-up.
  const [synthetic, model, view, graph, page] = await Promise.all([
    from('src/lib/synthetic-graph.js'), from('src/lib/graph-model.js'), from('src/lib/graph-view/index.js'), from('src/lib/render/graph.js'), from('test/fixtures/viewer-page.js'),
  ]);
  return { ...synthetic, ...model, ...view, ...graph, ...page } as unknown as Library;
}

/** dagre, the benchmark's own dependency (kmx does not use it). */
async function loadDagre(): Promise<Dagre> {
  const path = createRequire(import.meta.url).resolve('@dagrejs/dagre');
  const module = (await import(pathToFileURL(path).href)) as { default: Dagre };
  return module.default;
}

/** dagre's layered layout of the model's nodes (kmx's grid cell size) and edges: milliseconds and the size. */
function dagreLayout(dagre: Dagre, model: Model): [number, string] {
  const start = performance.now();
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'BT', nodesep: 8, ranksep: 40 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const n of model.nodes) graph.setNode(n.id, { width: 176, height: 40 });
  for (const e of model.edges) graph.setEdge(e.from, e.to);
  dagre.layout(graph);
  const ms = performance.now() - start;
  const { width = 0, height = 0 } = graph.graph();
  return [ms, `${Math.round(width)} x ${Math.round(height)}`];
}

function timed<T>(body: () => T): [T, number] {
  const start = performance.now();
  const value = body();
  return [value, performance.now() - start];
}

function dotSvg(dot: string): number {
  const start = performance.now();
  const r = spawnSync('dot', ['-Tsvg'], { input: dot, stdio: ['pipe', 'ignore', 'pipe'], maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`dot -Tsvg failed: ${r.stderr.toString()}`);
  return performance.now() - start;
}

export async function run(): Promise<BenchResult[]> {
  const library = await load();
  const dagre = await loadDagre();
  const results: BenchResult[] = [];
  const server = await library.startViewerPage(async (query) => library.graphModelOf(library.syntheticSnapshot(Number(query.get('synthetic')))));
  const browser = await launchBrowser();
  try {
    for (const size of SIZES) {
      const snapshot = library.syntheticSnapshot(size);
      const dot = library.toDot(library.buildGraph(snapshot, { types: [], processes: false }));
      const paint: number[] = [];
      const draw: number[] = [];
      const staticSvg: number[] = [];
      const graphviz: number[] = [];
      let dimensions = '';
      for (let round = 0; round < ROUNDS; round++) {
        const { context, page, errors } = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        try {
          await page.goto(`${server.url}?model=synthetic=${size}&preload`);
          await page.waitForSelector('body[data-ready="yes"]', { timeout: 60_000 });
          paint.push(Number(await page.locator('body').getAttribute('data-first-paint-ms')));
          draw.push(Number(await page.locator('svg.nsg-svg').getAttribute('data-render-ms')));
          if (errors.length > 0) throw new Error(`the viewer logged errors: ${errors.join('; ')}`);
        } finally {
          await context.close();
        }
        const [svg, ms] = timed(() => library.graphSvg(library.graphModelOf(snapshot)));
        staticSvg.push(ms);
        dimensions = /width="(\d+)" height="(\d+)"/.exec(svg)?.slice(1).join(' x ') ?? '?';
        graphviz.push(dotSvg(dot));
      }
      const model = library.graphModelOf(snapshot);
      const namespaces = model.nodes.length;
      const dotMs = median(graphviz);
      const ours: number[] = [];
      const theirs: number[] = [];
      let layered = '';
      for (let round = 0; round < ROUNDS; round++) {
        ours.push(timed(() => library.layoutGraph(model))[1]);
        const [ms, size] = dagreLayout(dagre, model);
        theirs.push(ms);
        layered = size;
      }
      const picture = library.layoutGraph(model);
      results.push(
        result(`viewer, ${namespaces} namespaces: mount to first paint`, median(paint), dotMs, 'ms', `layout and drawing alone ${median(draw).toFixed(1)} ms; headless Chromium`),
        result(`static SVG, ${namespaces} namespaces`, median(staticSvg), dotMs, 'ms', `model, layout and text in Node; ${dimensions} px`),
        result(`layout alone, ${namespaces} namespaces (peer: dagre 3.1.4)`, median(ours), median(theirs), 'ms',
          `in Node; kmx ${Math.round(picture.width)} x ${Math.round(picture.height)} px, dagre ${layered} px`),
      );
    }
  } finally {
    await browser.close();
    await server.close();
  }
  return results;
}

await runIfMain(import.meta.url, 'ns-graph', run);
