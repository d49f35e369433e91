// The page's code and style, built into dist/web (the package's `build:web` script, which the
// root build runs after tsc -b): web/*.ts type-checked with the DOM library, then bundled by
// esbuild into one ES module; index.html and app.css copied. Nothing is fetched at run time.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web');
const out = join(root, 'dist', 'web');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(web, 'tsconfig.json')], { stdio: 'inherit' });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(web, 'main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'chrome110',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'error',
});
for (const file of ['index.html', 'app.css']) await copyFile(join(web, file), join(out, file));
