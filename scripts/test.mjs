// The whole test suite: lint, then every compiled test with Node's test runner. Tests named
// *.fuse.test.js mount FUSE filesystems and run once per FUSE engine; every engine kmx has must
// load here (or be left out on purpose with KMX_TEST_ENGINES), or the run fails. Files run two
// at a time, but for *.alone.test.js (and *.alone.fuse.test.js): they observe what the whole
// machine holds (every process's namespaces and fds), so they run one by one with nothing
// beside them. Afterwards, no kmx mount, test directory or test network namespace may be left.
//
//   node scripts/test.mjs [--repeat N] [FILTER...]
// FILTERs are substrings of test file paths. --repeat runs the selection N times and names
// every test that did not pass every time.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const node = process.execPath;
const { values: flags, positionals: only } = parseArgs({ options: { repeat: { type: 'string', default: '1' } }, allowPositionals: true });
const repeat = Number(flags.repeat);
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) {
  console.error(`test.mjs: --repeat takes a whole number from 1 to 100, not "${flags.repeat}"`);
  process.exit(2);
}

function testFiles() {
  const files = [];
  for (const group of ['packages', 'plugins']) {
    for (const pkg of readdirSync(join(root, group))) {
      const dir = join(root, group, pkg, 'dist', 'test');
      if (!existsSync(dir)) continue;
      for (const entry of readdirSync(dir, { recursive: true })) {
        const file = join(dir, String(entry));
        // Output of a test source that was renamed or removed is not a test any more.
        const source = join(root, group, pkg, 'test', String(entry).replace(/\.js$/, '.ts'));
        if (file.endsWith('.test.js') && existsSync(source) && (only.length === 0 || only.some((o) => file.includes(o)))) files.push(file);
      }
    }
  }
  return files.sort();
}

/** Each engine kmx has, with the reason it cannot load here (null when it loads). */
function engines() {
  const probe = `import('@kmx/core').then(({ ENGINE_NAMES, selectEngine }) => {
    console.log(JSON.stringify(ENGINE_NAMES.map((name) => { try { selectEngine(name); return [name, null]; } catch (e) { return [name, e.message]; } })));
  })`;
  const out = spawnSync(node, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8' });
  if (out.status !== 0) return { error: `the engine probe failed: ${out.stderr.trim()}` };
  return { engines: JSON.parse(out.stdout) };
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

// The kmx command runs from the bundle (scripts/bundle.mjs): made again from the compiled code,
// so that tests never run commands older than what tsc last wrote.
if (spawnSync(node, [join(root, 'scripts', 'bundle.mjs')], { cwd: root, stdio: 'inherit' }).status !== 0) {
  console.error('test.mjs: bundling the kmx command failed');
  process.exit(1);
}

const results = mkdtempSync(join(tmpdir(), 'kmx-results-'));
const outcomeFiles = []; // [JSON-lines file, label] per runTests call
/**
 * Runs test files, two at a time but the *.alone ones, which follow one by one; TAP goes to
 * stdout, and each test's outcome (under `label`) to a JSON-lines file.
 */
function runTests(files, env, label) {
  const alone = files.filter((f) => /\.alone\.(fuse\.)?test\.js$/.test(f));
  const together = files.filter((f) => !alone.includes(f));
  const shared = runFiles(together, env, label, 2);
  return runFiles(alone, env, `${label}, one at a time`, 1) && shared;
}

function runFiles(files, env, label, concurrency) {
  if (files.length === 0) return true;
  console.log(`# ${label}: ${files.length} files`);
  const outcomes = join(results, `${outcomeFiles.length}.jsonl`);
  outcomeFiles.push([outcomes, label]);
  const result = spawnSync(node, [
    '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000',
    '--test-reporter=tap', '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'test-outcomes.mjs')}`, `--test-reporter-destination=${outcomes}`,
    ...files,
  ], { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status === 0;
}

/** Outcome counts per test, keyed by `label: file > name`, from every run so far. */
function tally() {
  const counts = new Map();
  for (const [outcomes, label] of outcomeFiles) {
    const lines = existsSync(outcomes) ? readFileSync(outcomes, 'utf8').split('\n').filter(Boolean) : [];
    for (const line of lines) {
      const { file: testFile, name, outcome } = JSON.parse(line);
      const key = `${label}: ${relative(root, testFile)} > ${name}`;
      const count = counts.get(key) ?? { pass: 0, fail: 0, skip: 0, todo: 0 };
      count[outcome]++;
      counts.set(key, count);
    }
  }
  return counts;
}

function runOnce() {
  let ok = true;
  if (only.length === 0) {
    console.log('# lint');
    ok = spawnSync('npx', ['--no-install', 'eslint', '--max-warnings=0', '.'], { cwd: root, stdio: 'inherit' }).status === 0 && ok;
  }
  const files = testFiles();
  const fuseFiles = files.filter((f) => f.endsWith('.fuse.test.js'));
  const plainFiles = files.filter((f) => !f.endsWith('.fuse.test.js'));
  ok = runTests(plainFiles, {}, 'tests') && ok;
  if (fuseFiles.length > 0) {
    const probed = engines();
    if (probed.error) {
      console.log(`not ok - ${probed.error}`);
      return false;
    }
    const expected = process.env.KMX_TEST_ENGINES?.split(',').filter(Boolean) ?? probed.engines.map(([name]) => name);
    for (const name of expected) {
      const found = probed.engines.find(([known]) => known === name);
      if (!found) {
        console.log(`not ok - KMX_TEST_ENGINES names "${name}", which is not a kmx FUSE engine`);
        ok = false;
      } else if (found[1] !== null) {
        console.log(`not ok - the FUSE engine ${name} does not load here, so its tests cannot run: ${found[1]}`);
        ok = false;
      } else {
        ok = runTests(fuseFiles, { KMX_FUSE_ENGINE: name }, `FUSE tests on the ${name} engine`) && ok;
      }
    }
  }
  const left = leftovers();
  if (left.length > 0) {
    console.log(`not ok - the tests left behind:\n${left.map((l) => `#   ${l}`).join('\n')}`);
    ok = false;
  }
  return ok;
}

let ok = true;
try {
  for (let round = 1; round <= repeat; round++) {
    if (repeat > 1) console.log(`# round ${round} of ${repeat}`);
    ok = runOnce() && ok;
  }
  if (repeat > 1) {
    const counts = tally();
    const unsteady = [...counts].filter(([, c]) => c.pass !== repeat && c.skip + c.todo !== repeat);
    console.log(`# ${repeat} rounds: ${counts.size} tests, ${counts.size - unsteady.length} passed every time`);
    for (const [key, c] of unsteady) console.log(`# not every time: ${key} (passed ${c.pass}, failed ${c.fail}, skipped ${c.skip + c.todo})`);
  }
} finally {
  rmSync(results, { recursive: true, force: true });
}
console.log(ok ? '# all passed' : '# FAILED');
process.exit(ok ? 0 : 1);
