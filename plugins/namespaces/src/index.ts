// kmx ns: namespace relations (the linuxns-rel functions on typed, disposable handles) and
// discovery through every route. The commands under src/commands are thin views of this.
export * from './lib/nsfs/index.js';
export * from './lib/discovery/index.js';
// The namespace graph for kmx ui: its model from the same discovery, the static SVG, and
// where the browser viewer's files are.
export * from './lib/graph-view/index.js';
export { namespaceGraphModel, graphModelOf, type GraphModelOptions } from './lib/graph-model.js';
export { graphViewerAssetDirectory } from './lib/web-assets.js';
export { syntheticGraphModel } from './lib/synthetic-graph.js';
