// The browser side of kmx ns (the graph viewer kmx ui shows): web/graph-viewer.ts bundled with
// the layout it shares with the static SVG into one ES module, dist/web/graph-viewer.js, and
// its stylesheet beside it. Type-checked first with the DOM's types (web/tsconfig.json), since
// the package's own tsc -b knows only Node's. Run by the package's `build:web` script, after tsc -b
// (the check reads @kmx/core's declarations).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const plugin = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(plugin, 'dist', 'web');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const check = spawnSync(process.execPath, [tsc, '-p', join(plugin, 'web', 'tsconfig.json')], { stdio: 'inherit' });
if (check.status !== 0) process.exit(check.status ?? 1);

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(plugin, 'web', 'graph-viewer.ts')],
  outfile: join(out, 'graph-viewer.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  charset: 'utf8',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(plugin, 'web', 'graph-viewer.css'), join(out, 'graph-viewer.css'));
