// Bundles what a kmx command loads, so that a command starts by reading a few files instead of
// several hundred: oclif, core and every command of the host and the plugins go into one esbuild
// build with shared chunks (one copy of oclif and of core for the whole process), written to
// packages/core/dist/bundle. Each package gets small stubs in its own dist/bundle that re-export
// its entries from there by package name, so that they resolve the same in a checkout and in an
// installed copy; its oclif.manifest.json then points its commands at those stubs, and its
// package.json points its hooks (and the host's help class) at them too.
//
// It also writes packages/cli/dist/bundle/command-owners.json, which package has which command.
//
// Runs after tsc and scripts/oclif-manifest.mjs (it bundles their output). Native modules, ssh2
// (native crypto beside its files) and what core requires by path at run time stay outside.
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'packages', 'core', 'dist', 'bundle');
const packages = ['packages/cli', ...readdirSync(join(root, 'plugins')).map((p) => `plugins/${p}`)].map((dir) => {
  const pjson = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
  return { dir: join(root, dir), name: pjson.name, pjson };
});
const sources = [...packages, { dir: join(root, 'packages', 'core'), name: '@kmx/core' }];

/** Entry name (unique across packages) -> compiled file; and per package the stubs to write. */
const entryPoints = {};
const stubs = [];
const manifests = [];
/** Command id (and alias) -> the package that has it, for bin/main.js to load only that one. */
const owners = {};
const entry = (pkg, file) => {
  const name = `${pkg.name.replace(/^@kmx\//, '').replace(/[^a-z0-9]+/g, '-')}--${relative(join(pkg.dir, 'dist', 'src'), file).replace(/\.js$/, '').split(sep).join('-')}`;
  entryPoints[name] = file;
  return name;
};
for (const pkg of packages) {
  const manifestPath = join(pkg.dir, 'oclif.manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  for (const command of Object.values(manifest.commands)) {
    const original = command.relativePath.join(sep).replace(/^dist[/\\]bundle[/\\]/, `dist${sep}src${sep}`);
    const name = entry(pkg, join(pkg.dir, original));
    const stub = ['dist', 'bundle', ...original.split(sep).slice(2)];
    stubs.push({ path: join(pkg.dir, ...stub), name });
    command.relativePath = stub;
    command.isESM = true;
    for (const id of [command.id, ...(command.aliases ?? []), ...(command.hiddenAliases ?? [])]) owners[id] = pkg.name;
  }
  manifests.push({ path: manifestPath, content: `${JSON.stringify(manifest)}\n` });
  const hooked = { ...(pkg.pjson.oclif.hooks ?? {}), ...(pkg.pjson.oclif.helpClass ? { help: pkg.pjson.oclif.helpClass } : {}) };
  for (const target of Object.values(hooked).flat()) {
    const original = target.replace(/^\.\/dist\/bundle\//, './dist/src/');
    stubs.push({ path: join(pkg.dir, target), name: entry(pkg, join(pkg.dir, original)) });
  }
}
entryPoints.main = join(root, 'packages', 'cli', 'bin', 'main.js');

/** `import.meta.url` of a bundled module, as its own file's URL, found through its package. */
const moduleUrls = {
  name: 'kmx-module-urls',
  setup(b) {
    b.onLoad({ filter: /[/\\]dist[/\\]src[/\\].*\.js$/ }, (args) => {
      const owner = sources.find((o) => args.path.startsWith(join(o.dir, 'dist', 'src') + sep));
      const source = readFileSync(args.path, 'utf8');
      if (!owner || !source.includes('import.meta.url')) return undefined;
      const url = `__kmxModuleUrl(${JSON.stringify(owner.name)}, ${JSON.stringify(relative(owner.dir, args.path).split(sep).join('/'))})`;
      return { contents: source.replaceAll('import.meta.url', url), loader: 'js' };
    });
  },
};

await rm(out, { recursive: true, force: true });
for (const pkg of packages) await rm(join(pkg.dir, 'dist', 'bundle'), { recursive: true, force: true });
await build({
  entryPoints,
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  external: ['koffi', 'fuse-native', 'ssh2', 'cpu-features', 'typescript', 'tsyringe', 'reflect-metadata', '*.node'],
  plugins: [moduleUrls],
  logLevel: 'error',
  legalComments: 'none',
  minify: true,
  keepNames: true, // class names appear in errors and --verbose stacks
  // CommonJS dependencies inside the bundle call require(); and bundled modules find their own files.
  banner: {
    js: [
      "import { createRequire as __kmxCreateRequire } from 'node:module';",
      "import { pathToFileURL as __kmxPathToUrl } from 'node:url';",
      'const require = __kmxCreateRequire(import.meta.url);',
      "const __kmxModuleUrl = (pkg, path) => new URL(path, __kmxPathToUrl(require.resolve(`${pkg}/package.json`))).href;",
    ].join(' '),
  },
});
for (const manifest of manifests) await writeFile(manifest.path, manifest.content);
for (const stub of stubs) {
  await mkdir(dirname(stub.path), { recursive: true });
  await writeFile(stub.path, `export * from '@kmx/core/bundle/${stub.name}.js';\nexport { default } from '@kmx/core/bundle/${stub.name}.js';\n`);
}
await mkdir(join(root, 'packages', 'cli', 'dist', 'bundle'), { recursive: true });
await writeFile(join(root, 'packages', 'cli', 'dist', 'bundle', 'command-owners.json'), `${JSON.stringify(owners)}\n`);
if (!existsSync(join(out, 'main.js'))) throw new Error('bundle: main.js was not written');
