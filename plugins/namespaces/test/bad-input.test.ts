import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOneLineError, runKmx } from '@kmx/core/testing';
import type { ListJson } from '../src/commands/ns/list.js';
import { NamespaceLab, comm, inodeOf, nsLink } from './lab.js';

/** Wrong paths, dead pids, no permission: one clear line and a non-zero exit; ordinary users get what they may see. */

const NOBODY = { uid: 65534, gid: 65534, env: { ...process.env, HOME: '/nonexistent' } };

describe('kmx ns: bad input', () => {
  const lab = new NamespaceLab();
  after(() => lab.cleanUp());

  it('a path that does not exist', async () => {
    assertOneLineError(await runKmx(['ns', 'show', '/nonexistent/ns/net']), /^kmx: stat \/nonexistent\/ns\/net: no such file or directory \(ENOENT\)$/, 1);
  });

  it('a file, a directory, a device or a FIFO that is not a namespace (never opened, so nothing blocks)', async () => {
    const fifo = join(lab.dir, 'fifo');
    await lab.exec('mkfifo', [fifo]);
    for (const path of ['/etc/hostname', lab.dir, '/dev/null', fifo]) {
      const r = await runKmx(['ns', 'show', path], { timeoutMs: 20_000 });
      assertOneLineError(r, new RegExp(`^kmx: ${path} is not a namespace: not an nsfs file \\(ENOTTY\\); give /proc/PID/ns/TYPE`), 1);
    }
  });

  it('a process that has exited, and one that never existed', async () => {
    const child = spawn('true');
    await once(child, 'exit');
    assertOneLineError(await runKmx(['ns', 'show', String(child.pid)]), new RegExp(`^kmx: process ${child.pid}: no such process \\(ESRCH\\)`), 1);
    assertOneLineError(await runKmx(['ns', 'show', '4194304999']), /^kmx: process 4194304999: no such process \(ESRCH\)/, 1);
  });

  it('no permission: another user\'s process or namespace file', async () => {
    assertOneLineError(await runKmx(['ns', 'show', '2'], NOBODY), /^kmx: open \/proc\/2\/ns: permission denied \(EACCES\); only root and the owner of process 2 may read its namespaces$/, 1);
    assertOneLineError(await runKmx(['ns', 'show', '/proc/2/ns/net'], NOBODY), /^kmx: stat \/proc\/2\/ns\/net: permission denied \(EACCES\); only root and the owner/, 1);
  });

  it('an unknown type, a missing argument', async () => {
    assertOneLineError(await runKmx(['ns', 'list', '--type', 'bogus']), /bogus/, 2);
    assertOneLineError(await runKmx(['ns', 'tree', '-t', 'nope']), /nope/, 2);
    assertOneLineError(await runKmx(['ns', 'show']), /target/, 2);
  });

  it('a graph file that cannot be written; SVG needs no Graphviz', async () => {
    assertOneLineError(await runKmx(['ns', 'graph', '-o', '/nonexistent/dir/ns.dot']), /^kmx: open \/nonexistent\/dir\/ns\.dot: no such file or directory \(ENOENT\)$/, 1);
    assertOneLineError(await runKmx(['ns', 'graph', '--format', 'png']), /png/, 2);
    const empty = join(lab.dir, 'empty-path');
    mkdirSync(empty);
    const r = await runKmx(['ns', 'graph', '--format', 'svg'], { env: { ...process.env, PATH: empty } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^<\?xml [^>]*>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  });

  it('errors as JSON with --json', async () => {
    const r = await runKmx(['ns', 'show', '--json', '/etc/hostname']);
    assert.equal(r.code, 1);
    const body = JSON.parse(r.stdout) as { error: { message: string; code: string; exitCode: number } };
    assert.match(body.error.message, /is not a namespace/);
    assert.equal(body.error.code, 'ENOTTY');
  });
});

describe('kmx ns as an ordinary user', () => {
  const lab = new NamespaceLab();
  let own: number;
  before(async () => {
    const ours = nsLink('self', 'user');
    const pid = await lab.start('unshare', ['--user', 'sleep', '600'], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ours, { uid: 65534, gid: 65534 });
    own = inodeOf(pid, 'user');
  });
  after(() => lab.cleanUp());

  it('lists what that user can see, and counts what it cannot', async () => {
    const r = await runKmx(['ns', 'list', '--json'], NOBODY);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as ListJson;
    const mine = list.namespaces.find((n) => n.ns === own);
    assert.deepEqual([mine?.ownerUid, mine?.ownerName, mine?.nprocs], [65534, 'nobody', 1]);
    assert.ok(list.inaccessible.count > 0);
    assert.equal(list.inaccessible.count, list.inaccessible.items.length);
    assert.ok(list.inaccessible.items.some((i) => i.kind === 'process' && i.target === '/proc/2/ns' && i.code === 'EACCES'));
  });

  it('says so in one line, and lists it with --verbose', async () => {
    const r = await runKmx(['ns', 'tree'], NOBODY);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^[├└]── user:\\[${own}\\] process "sleep" \\(\\d+, 1 proc\\) owner nobody \\(65534\\)$`, 'm'));
    assert.match(r.stderr, /^kmx ns: not accessible: [^;\n]*\d+ processes[^;\n]* \(run as root to see more\); --verbose lists them\n$/);
    const verbose = await runKmx(['ns', 'list', '--verbose'], NOBODY);
    assert.equal(verbose.code, 0, verbose.stderr);
    assert.match(verbose.stderr, /^ {2}process \/proc\/2\/ns: EACCES$/m);
  });
});
