import { readFile, realpath } from 'node:fs/promises';
import { dirname, extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { graphViewerAssetDirectory } from '@kmx/plugin-namespaces';

// What the server hands out besides the API: its own page (built into dist/web by the
// package's generate script) and the namespace graph viewer from @kmx/plugin-namespaces. Files
// are looked up by name in a fixed directory, never by joining a URL path: a name is one
// component of safe characters, and the resolved file must still lie inside that directory.

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export interface Asset {
  body: Buffer;
  type: string;
}

/** This package's root (dist/src/lib/server → four levels up), found the same in the bundle. */
function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
}

/** The page's own files. */
export function webDirectory(): string {
  return join(packageRoot(), 'dist', 'web');
}

/** Where the namespaces plugin builds its graph viewer (graph-viewer.js and .css). */
export function namespaceViewerDirectory(): string {
  return graphViewerAssetDirectory();
}

/**
 * The files served so far, by path: built files do not change while a server runs (a rebuild
 * writes new ones, which a new server reads), and a page load then touches no disk.
 */
const cache = new Map<string, Asset>();

/** Reads `name` from `directory`, or undefined when it is no file of that directory that may be served. */
export async function readAsset(directory: string | undefined, name: string): Promise<Asset | undefined> {
  if (directory === undefined || !SAFE_NAME.test(name)) return undefined;
  const cached = cache.get(join(directory, name));
  if (cached) return cached;
  const type = TYPES[extname(name)];
  if (type === undefined) return undefined;
  try {
    const root = await realpath(directory);
    const file = await realpath(join(root, name));
    if (!file.startsWith(root + sep)) return undefined; // a symlink out of the directory
    const asset = { body: await readFile(file), type };
    cache.set(join(directory, name), asset);
    return asset;
  } catch {
    return undefined;
  }
}
