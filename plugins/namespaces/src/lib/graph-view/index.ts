// The namespace graph as data and as a picture: the model the browser viewer loads, and the
// layout and drawing it shares with `kmx ns graph --format svg`.
import { layoutGraph } from './layout.js';
import type { NamespaceGraphModel } from './model.js';
import { svgDocument } from './scene.js';

export * from './model.js';
export { layoutGraph, type GraphLayout, type ViewState } from './layout.js';

/** The whole graph as a standalone SVG file: user namespaces as a tree of frames, a legend. */
export function graphSvg(model: NamespaceGraphModel): string {
  return svgDocument(layoutGraph(model));
}
