'use strict';
// The bundle's loader, copied by scripts/bundle.mjs beside kmx.cjs. It compiles the bundle with
// V8's code cache (kmx.cjs.cache), which Node 20 offers only through vm.Script: compiling the
// bundle's source is most of a command's start-up, reading the compiled code back is not.
//
// A missing cache, or one made for another build of the bundle or refused by V8 (another Node),
// is written again when the process exits, where the process may write beside the bundle (root
// in an installed copy, the developer in a checkout). KMX_CODE_CACHE=refresh writes it in any
// case: the build runs a few commands so, which makes the cache hold the code they ran, and not
// only the bundle's top level.
const { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { fileURLToPath } = require('node:url');
const vm = require('node:vm');

const file = join(__dirname, 'kmx.cjs');
const cacheFile = `${file}.cache`;
const source = readFileSync(file, 'latin1'); // ASCII (scripts/bundle.mjs)
// The bundle's first line names its build; the cache starts with the line of the build it was
// made from. V8 checks only that the source has the same length.
const build = Buffer.from(source.slice(0, source.indexOf('\n') + 1));
let cachedData;
let state = 'missing';
try {
  const cache = readFileSync(cacheFile);
  if (cache.subarray(0, build.length).equals(build)) cachedData = cache.subarray(build.length);
  else state = 'refused';
} catch {
  // missing
}
// The wrapper stays on the bundle's first line, so that line numbers in stacks are the file's.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
if (cachedData !== undefined) state = script.cachedDataRejected ? 'refused' : 'used';

const nodeRequire = createRequire(file);
// esbuild turns the bundle's import() into require(); the modules oclif and the hooks' runners
// import by file URL are CommonJS stubs here (dist/bundle/package.json), so requiring them works.
const bundleRequire = Object.assign((id) => nodeRequire(typeof id === 'string' && id.startsWith('file:') ? fileURLToPath(id) : id), nodeRequire);
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, bundleRequire, bundle, file, dirname(file));

if (process.env.KMX_CODE_CACHE === 'refresh' || state !== 'used') process.once('exit', writeCache);

/** Writes the code cache whole or not at all: a reader must never see half of one. */
function writeCache() {
  let tmp;
  try {
    tmp = mkdtempSync(join(__dirname, '.cache-'));
    writeFileSync(join(tmp, 'kmx.cjs.cache'), Buffer.concat([build, script.createCachedData()]));
    renameSync(join(tmp, 'kmx.cjs.cache'), cacheFile);
  } catch {
    // Not ours to write (an installed copy run by a user): this process compiled without it.
  } finally {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
}

/** Whether this process compiled the bundle from the code cache (for kmx doctor). */
exports.codeCache = () => ({ file: cacheFile, state });

/** The exports of one bundled entry (a command, a hook, the help class, or `main`). */
exports.load = (name) => {
  const entry = bundle.exports.entries[name];
  if (entry === undefined) throw new Error(`kmx bundle: no entry ${name}; run npm run build`);
  return entry();
};
