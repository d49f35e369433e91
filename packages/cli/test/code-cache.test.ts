import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { run, runKmx } from '@kmx/core/testing';

interface Check { name: string; ok: boolean; detail: string }

const bundleDir = dirname(createRequire(import.meta.url).resolve('@kmx/core/bundle/load.js'));

/**
 * A copy of the bundle and its loader beside the real one (so that its modules resolve the same),
 * without the code cache; removed after `body`.
 */
async function bundleCopy(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(dirname(bundleDir), 'bundle-test-'));
  try {
    chmodSync(dir, 0o755); // readable, as an installed bundle is, by every user
    for (const file of ['kmx.cjs', 'load.js', 'package.json']) copyFileSync(join(bundleDir, file), join(dir, file));
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Loads the copy in a new process, requires one command from it, and answers how it compiled. */
async function loadCopy(dir: string, env: NodeJS.ProcessEnv = {}, user?: number): Promise<string> {
  const script = `const l = require(${JSON.stringify(join(dir, 'load.js'))}); if (typeof l.load('kmx--commands-mounts').default !== 'function') process.exit(3); console.log(l.codeCache().state)`;
  const node = [process.execPath, '-e', script];
  const r = user === undefined
    ? await run(node[0]!, node.slice(1), { env: { ...process.env, ...env } })
    : await run('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--clear-groups', ...node], { env: { ...process.env, ...env } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout.trim();
}

describe('the bundle\'s code cache', () => {
  it('is made by the build and used by every command, as kmx doctor reports', async () => {
    assert.ok(statSync(join(bundleDir, 'kmx.cjs.cache')).size > 0);
    const r = await runKmx(['doctor', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const check = (JSON.parse(r.stdout) as Check[]).find((c) => c.name === 'start-up code cache');
    assert.deepEqual([check?.ok, check?.detail], [true, join(bundleDir, 'kmx.cjs.cache')]);
  });

  it('is written when missing, used next time, and written again when V8 refuses it', async () => {
    await bundleCopy(async (dir) => {
      const cache = join(dir, 'kmx.cjs.cache');
      assert.equal(await loadCopy(dir), 'missing');
      assert.ok(statSync(cache).size > 0, 'written at exit');
      assert.equal(await loadCopy(dir), 'used');
      // What another Node's V8 made looks like to this one: the same build, code it refuses.
      const made = readFileSync(cache);
      const header = made.indexOf(0x0a) + 1;
      writeFileSync(cache, Buffer.concat([made.subarray(0, header), Buffer.alloc(made.length - header, 0x5a)]));
      assert.equal(await loadCopy(dir), 'refused');
      assert.equal(await loadCopy(dir), 'used');
      // A cache made for another build of the bundle (V8 would take it if the lengths matched).
      writeFileSync(cache, Buffer.concat([Buffer.from(`// kmx bundle ${'0'.repeat(64)}\n`), readFileSync(cache).subarray(header)]));
      assert.equal(await loadCopy(dir), 'refused');
      assert.equal(await loadCopy(dir), 'used');
      // Used as it is: not written again; unless asked to (the build, a package's postinst).
      const inode = statSync(cache).ino;
      assert.equal(await loadCopy(dir), 'used');
      assert.equal(statSync(cache).ino, inode);
      assert.equal(await loadCopy(dir, { KMX_CODE_CACHE: 'refresh' }), 'used');
      assert.notEqual(statSync(cache).ino, inode);
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.cache-')), [], 'no temporary file left');
    });
  });

  it('is left alone by a user who cannot write beside the bundle, who still gets the command', async () => {
    await bundleCopy(async (dir) => {
      assert.equal(await loadCopy(dir, {}, 65534), 'missing');
      assert.deepEqual(readdirSync(dir).sort(), ['kmx.cjs', 'load.js', 'package.json']);
    });
  });
});
