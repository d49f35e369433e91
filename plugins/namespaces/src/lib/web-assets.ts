import { fileURLToPath } from 'node:url';

/**
 * The directory holding the browser viewer (graph-viewer.js, graph-viewer.css), for a server
 * to serve as it is: dist/web of this package, built by scripts/build-web.mjs.
 */
export function graphViewerAssetDirectory(): string {
  return fileURLToPath(new URL('../../web', import.meta.url));
}
