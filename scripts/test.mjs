// The whole test suite: lint, then every compiled test with Node's test runner. Tests named
// *.fuse.test.js mount FUSE filesystems and run once per FUSE engine that works here; the rest
// run once. Afterwards, no kmx mount, test directory or test network namespace may be left.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;
const only = process.argv.slice(2); // optional filters: substrings of test file paths

function testFiles() {
  const files = [];
  for (const group of ['packages', 'plugins']) {
    for (const pkg of readdirSync(join(root, group))) {
      const dir = join(root, group, pkg, 'dist', 'test');
      if (!existsSync(dir)) continue;
      for (const entry of readdirSync(dir, { recursive: true })) {
        const file = join(dir, String(entry));
        if (file.endsWith('.test.js') && (only.length === 0 || only.some((o) => file.includes(o)))) files.push(file);
      }
    }
  }
  return files.sort();
}

function engines() {
  const probe = `import('@kmx/core').then(({ ENGINE_NAMES, selectEngine }) => {
    console.log(JSON.stringify(ENGINE_NAMES.filter((e) => { try { selectEngine(e); return true; } catch { return false; } })));
  })`;
  const out = spawnSync(node, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.stdout || '[]');
}

function leftovers() {
  const found = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 0) continue;
    // Test mounts live in the run's temporary directories (set TMPDIR to keep parallel runs apart).
    const mountpoint = fields[4];
    if (mountpoint.startsWith(`${tmpdir()}/kmx-`)) found.push(`mount ${mountpoint}`);
  }
  for (const name of readdirSync(tmpdir())) if (/^kmx-(test|tour)-/.test(name)) found.push(`directory ${join(tmpdir(), name)}`);
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('kmxt-')) : [];
  for (const name of netns) found.push(`network namespace ${name}`);
  return found;
}

function runTests(files, env, label) {
  if (files.length === 0) return true;
  console.log(`# ${label}: ${files.length} files`);
  const result = spawnSync(node, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files], {
    cwd: root, stdio: 'inherit', env: { ...process.env, ...env },
  });
  return result.status === 0;
}

let ok = true;
if (only.length === 0) {
  console.log('# lint');
  ok = spawnSync('npx', ['--no-install', 'eslint', '--max-warnings=0', '.'], { cwd: root, stdio: 'inherit' }).status === 0 && ok;
}
const files = testFiles();
const fuseFiles = files.filter((f) => f.endsWith('.fuse.test.js'));
const plainFiles = files.filter((f) => !f.endsWith('.fuse.test.js'));
ok = runTests(plainFiles, {}, 'tests') && ok;
const available = engines();
if (fuseFiles.length > 0 && available.length === 0) {
  console.log('not ok - no FUSE engine works on this host (kmx doctor says why)');
  ok = false;
}
for (const engine of available) ok = runTests(fuseFiles, { KMX_FUSE_ENGINE: engine }, `FUSE tests on the ${engine} engine`) && ok;

const left = leftovers();
if (left.length > 0) {
  console.log(`not ok - the tests left behind:\n${left.map((l) => `#   ${l}`).join('\n')}`);
  ok = false;
}
console.log(ok ? '# all passed' : '# FAILED');
process.exit(ok ? 0 : 1);
