// Builds kmx's native parts: fuse-native from its patched C source (npm ci installs its stock
// prebuilt binary; patch-package has just patched the source) and kmx's own C helpers.
// Skips what is already built from the current sources.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const hash = (...files) => createHash('sha256').update(files.map((f) => readFileSync(f)).join('\0')).digest('hex');

function nodeGyp() {
  // npm sets this for lifecycle scripts; otherwise use the node-gyp that ships with npm.
  return process.env.npm_config_node_gyp
    ?? join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}

function buildFuseNative() {
  const dir = dirname(require.resolve('fuse-native/package.json'));
  const source = join(dir, 'fuse-native.c');
  const output = join(dir, 'build', 'Release', 'fuse.node');
  const stampFile = join(dir, 'build', 'kmx-source.sha256');
  const want = hash(source);
  if (existsSync(output) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === want) return;
  console.error('kmx build: compiling the patched fuse-native');
  const args = [nodeGyp(), 'rebuild', '--loglevel=error'];
  if (existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr'); // offline: the system's headers
  execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(stampFile, want);
}

function buildHelpers() {
  const srcDir = join(root, 'packages', 'core', 'native');
  const outDir = join(root, 'packages', 'core', 'dist', 'native');
  if (!existsSync(srcDir)) return;
  mkdirSync(outDir, { recursive: true });
  for (const name of ['kmx-nshelper']) {
    const source = join(srcDir, `${name}.c`);
    if (!existsSync(source)) continue;
    const output = join(outDir, name);
    const stampFile = `${output}.sha256`;
    const want = hash(source);
    if (existsSync(output) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === want) continue;
    console.error(`kmx build: compiling ${name}`);
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE', '-o', output, source], { stdio: 'inherit' });
    writeFileSync(stampFile, want);
  }
}

/** Shared libraries loaded through koffi: PKG/native/NAME.c → PKG/dist/native/libNAME.so. */
const LIBRARIES = [
  // kmx passthrough's READDIRPLUS (a listing with every entry's attributes in one call) and its stats.
  { pkg: 'packages/core', name: 'kmx-dirlist', link: [], packages: 'gcc' },
  // kmx enc's AES-GCM over runs of blocks (OpenSSL's EVP API; headers from libssl-dev).
  { pkg: 'plugins/encfs', name: 'kmx-enc-gcm', link: ['-lcrypto'], packages: 'libssl-dev' },
];

function buildLibraries() {
  for (const { pkg, name, link, packages } of LIBRARIES) {
    const source = join(root, pkg, 'native', `${name}.c`);
    if (!existsSync(source)) continue;
    const outDir = join(root, pkg, 'dist', 'native');
    const output = join(outDir, `lib${name}.so`);
    const stampFile = `${output}.sha256`;
    const want = hash(source);
    if (existsSync(output) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === want) continue;
    mkdirSync(outDir, { recursive: true });
    console.error(`kmx build: compiling lib${name}.so`);
    try {
      execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', output, source, ...link], { stdio: 'inherit' });
      writeFileSync(stampFile, want);
    } catch {
      // The package falls back to slower code (kmx enc says so at mount and in kmx doctor).
      console.error(`kmx build: warning: lib${name}.so not built (needs ${packages}); ${pkg} uses its slower fallback`);
    }
  }
}

buildFuseNative();
buildHelpers();
buildLibraries();
