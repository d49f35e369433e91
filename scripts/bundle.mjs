// Bundles what a kmx command loads, so that a command starts by reading a few files instead of
// several hundred: oclif, core and every command and hook of the host and the plugins go into one
// CommonJS file, packages/core/dist/bundle/kmx.cjs, whose modules run only when first required
// (one copy of oclif and of core for the whole process). Its loader (bundle/load.cjs) compiles it
// with V8's code cache, which the build fills by running a few commands. Each package gets small
// CommonJS stubs in its own dist/bundle that load its entries by package name, so that they
// resolve the same in a checkout and in an installed copy; its oclif.manifest.json then points
// its commands at those stubs, and its package.json points its hooks (and the host's help class)
// at them too.
//
// It also writes packages/cli/dist/bundle/command-owners.json, which package has which command.
//
// Runs after tsc and scripts/oclif-manifest.mjs (it bundles their output). Native modules, ssh2
// (native crypto beside its files) and what core requires by path at run time stay outside.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
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
    command.isESM = false;
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

/**
 * Every file is written whole and renamed into place, nothing is removed first: a kmx started
 * while the bundle is made again (a test run beside a build) loads the old files or the new ones.
 */
async function writeWhole(path, content) {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, path);
}

// The ES-module bundle an older build left here.
await rm(join(out, 'chunks'), { recursive: true, force: true });
// The entries by name, each required (and so run) only when asked for.
const registry = Object.entries(entryPoints).map(([name, file]) => `  ${JSON.stringify(name)}: () => require(${JSON.stringify(file)}),`);
const [bundled] = (await build({
  write: false,
  stdin: { contents: `export const entries = {\n${registry.join('\n')}\n};\n`, resolveDir: root, sourcefile: 'entries.js' },
  outfile: join(out, 'kmx.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // vm.Script, which the code cache needs, has no import() on Node 20 without a flag.
  supported: { 'dynamic-import': false },
  external: ['koffi', 'fuse-native', 'ssh2', 'cpu-features', 'typescript', '*.node'],
  plugins: [moduleUrls],
  logLevel: 'error',
  legalComments: 'none',
  minify: true,
  keepNames: true, // class names appear in errors and --verbose stacks
  // Bundled modules find their own files through their package.
  banner: { js: "const __kmxModuleUrl = (pkg, path) => new URL(path, require('node:url').pathToFileURL(require.resolve(`${pkg}/package.json`))).href;" },
})).outputFiles;
// The first line names this build: a code cache made for another build is not used (V8 itself
// compares only the source's length).
// ASCII only (a dependency has a raw control character in a regex): V8 then keeps the source as
// one byte per character, and the loader reads it without decoding UTF-8.
const ascii = bundled.text.replace(/[^\t\n\r\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
await writeWhole(join(out, 'kmx.cjs'), `// kmx bundle ${createHash('sha256').update(ascii).digest('hex')}\n${ascii}`);
const commonjs = `${JSON.stringify({ type: 'commonjs' })}\n`;
await writeWhole(join(out, 'load.js'), readFileSync(join(root, 'scripts', 'bundle', 'load.cjs')));
await writeWhole(join(out, 'package.json'), commonjs);
for (const manifest of manifests) await writeWhole(manifest.path, manifest.content);
for (const stub of stubs) await writeWhole(stub.path, `module.exports = require('@kmx/core/bundle/load.js').load(${JSON.stringify(stub.name)});\n`);
for (const pkg of packages) await writeWhole(join(pkg.dir, 'dist', 'bundle', 'package.json'), commonjs);
await writeWhole(join(root, 'packages', 'cli', 'dist', 'bundle', 'command-owners.json'), `${JSON.stringify(owners)}\n`);
if (!existsSync(join(out, 'kmx.cjs'))) throw new Error('bundle: kmx.cjs was not written');

// The code cache, holding what these commands compile: oclif's start, help, and a few commands.
const kmx = join(root, 'packages', 'cli', 'bin', 'run.js');
for (const args of [['--help'], ['sftp', 'mount', '--help'], ['mounts'], ['ns', 'list', '--json']]) {
  const run = spawnSync(process.execPath, [kmx, ...args], { env: { ...process.env, KMX_CODE_CACHE: 'refresh' }, stdio: 'ignore', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`bundle: kmx ${args.join(' ')} failed (${run.status ?? run.signal}) while filling the code cache`);
}
if (!existsSync(join(out, 'kmx.cjs.cache'))) throw new Error('bundle: the code cache was not written');
