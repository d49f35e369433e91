import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertOneLineError, runKmx, temporaryDirectory } from '@kmx/core/testing';

// Bad input to `kmx ui`: one line and a non-zero exit, never a stack trace or a server left running.

describe('kmx ui: bad input', () => {
  it('a port in use', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      assertOneLineError(await runKmx(['ui', '--no-open', '--port', String(port)], { timeoutMs: 20_000 }), new RegExp(`^kmx: 127\\.0\\.0\\.1:${port} is in use; choose another --port`), 1);
    } finally {
      busy.close();
    }
  });

  it('an unknown view', async () => {
    assertOneLineError(await runKmx(['ui', '--no-open', '--view', 'nope'], { timeoutMs: 20_000 }), /^kmx: unknown view nope; one of mounts, ns, procsys, backups$/, 2);
  });

  it('bad --socket paths: relative, in a missing directory, a file that is not a socket', async () => {
    assertOneLineError(await runKmx(['ui', '--no-open', '--socket', 'ui.sock'], { timeoutMs: 20_000 }), /^kmx: --socket needs an absolute path/, 2);
    await temporaryDirectory(async (dir) => {
      assertOneLineError(await runKmx(['ui', '--no-open', '--socket', join(dir, 'missing', 'ui.sock')], { timeoutMs: 20_000 }), /^kmx: bind .*missing\/ui\.sock: no such file or directory \(ENOENT\)/, 1);
      const file = join(dir, 'file');
      await writeFile(file, 'keep me');
      assertOneLineError(await runKmx(['ui', '--no-open', '--socket', file], { timeoutMs: 20_000 }), /^kmx: .*\/file exists and is not a socket of yours; choose another --socket path$/, 1);
    });
  });

  it('--port and --socket together', async () => {
    const r = await runKmx(['ui', '--no-open', '--port', '0', '--socket', '/tmp/x.sock'], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
