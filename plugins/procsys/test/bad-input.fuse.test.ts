import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { assertCleanFailure, kmxBin, mountsUnder, runKmx, sh, temporaryDirectory } from '@kmx/core/testing';

/** The test's own agents, which mention its directory and outlive each failing command. */
const AGENTS = / procsys serve /;

/** An agent on loopback for as long as `body` runs; resolves its address. */
async function withAgent<T>(args: readonly string[], body: (address: string) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [kmxBin(), 'procsys', 'serve', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const deadline = Date.now() + 20_000;
    let match: RegExpExecArray | null = null;
    while (!(match = /on (127\.0\.0\.1:\d+)/.exec(output))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`agent did not start: ${output}`);
      await sleep(50);
    }
    return await body(match[1]!);
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  }
}

async function certs(dir: string, name: string, nodes: readonly string[]): Promise<string> {
  const path = join(dir, name);
  const r = await runKmx(['procsys', 'certs', '--dir', path, ...nodes.flatMap((n) => ['--node', n])]);
  assert.equal(r.code, 0, r.stderr);
  return path;
}

describe('kmx procsys: bad input gets one clear line and leaves nothing behind', () => {
  it('an unreachable peer, a bad peer address, peers without certificates', () => temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const good = await certs(dir, 'certs', ['me', 'x']);
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--certs', good, '--name', 'me', '--timeout', '500', '--peer', 'x=127.0.0.1:1', mnt]), dir, /peer x \(127\.0\.0\.1:1\) did not answer: .*; is `kmx procsys serve` running there/, { exitCode: 1, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--certs', good, '--name', 'me', '--peer', 'x=nowhere', mnt]), dir, /invalid address "nowhere" for peer x; write HOST:PORT/, { exitCode: 2, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--certs', good, '--name', 'me', '--peer', 'no/slash=127.0.0.1:1', mnt]), dir, /invalid peer name "no\/slash"/, { exitCode: 2, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--name', 'me', '--peer', 'x=127.0.0.1:1', mnt]), dir, /needs certificates: --certs DIR/, { exitCode: 2, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--certs', good, '--name', 'nobody', '--peer', 'x=127.0.0.1:1', mnt]), dir, /no certificate for node "nobody"/, { exitCode: 1, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'run', '--certs', good, '--name', 'me', '--timeout', '500', '--peer', 'x=127.0.0.1:1', '--', 'true']), dir, /peer x .* did not answer/, { exitCode: 1, exceptProcesses: AGENTS });
  }));

  it('a wrong certificate is refused, on either side', () => temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const cluster = await certs(dir, 'cluster', ['me', 'a', 'b']);
    const other = await certs(dir, 'other', ['me', 'a']);
    // The agent's certificate comes from another CA: the client refuses it.
    await withAgent(['--certs', other, '--name', 'a'], async (address) => {
      const r = await runKmx(['procsys', 'mount', '--certs', cluster, '--name', 'me', '--peer', `a=${address}`, mnt]);
      await assertCleanFailure(r, dir, /peer a .* did not answer: .*; its certificate must come from the same CA/, { exitCode: 1, exceptProcesses: AGENTS });
    });
    await withAgent(['--certs', cluster, '--name', 'a'], async (address) => {
      // The client's certificate comes from another CA: the agent refuses it.
      await assertCleanFailure(await runKmx(['procsys', 'mount', '--certs', other, '--name', 'me', '--peer', `a=${address}`, mnt]), dir, /peer a .* did not answer/, { exitCode: 1, exceptProcesses: AGENTS });
      // The agent is reached under a name its certificate does not carry.
      await assertCleanFailure(await runKmx(['procsys', 'mount', '--certs', cluster, '--name', 'me', '--peer', `b=${address}`, mnt]), dir, /peer b .* did not answer/, { exitCode: 1, exceptProcesses: AGENTS });
      // Plain TCP to a TLS agent.
      await assertCleanFailure(await runKmx(['procsys', 'mount', '--insecure', '--name', 'me', '--timeout', '1000', '--peer', `a=${address}`, mnt]), dir, /peer a .* did not answer/, { exitCode: 1, exceptProcesses: AGENTS });
      // With the right certificates it works.
      const ok = await runKmx(['procsys', 'run', '--certs', cluster, '--name', 'me', '--peer', `a=${address}`, '--', 'cat', '/proc/status']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /^a\s+up\s/m);
    });
    // Files that are not what they claim.
    await writeFile(join(dir, 'bad.pem'), 'not a certificate');
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--ca', join(dir, 'bad.pem'), '--cert', join(cluster, 'me.pem'), '--key', join(cluster, 'me-key.pem'), '--peer', 'a=127.0.0.1:1', mnt]), dir, /bad\.pem is not a PEM certificate/, { exitCode: 1, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--ca', join(other, 'ca.pem'), '--cert', join(cluster, 'me.pem'), '--key', join(cluster, 'me-key.pem'), '--peer', 'a=127.0.0.1:1', mnt]), dir, /is not signed by the CA/, { exitCode: 1, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--ca', join(cluster, 'ca.pem'), '--cert', join(cluster, 'me.pem'), '--key', join(cluster, 'a-key.pem'), '--peer', 'a=127.0.0.1:1', mnt]), dir, /does not belong to the certificate/, { exitCode: 1, exceptProcesses: AGENTS });
  }));

  it('a busy mountpoint, a bad cluster file, a busy port, a bad node name', () => temporaryDirectory(async (dir) => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    assert.equal((await sh(`mount -t tmpfs kmxtest '${mnt}'`)).code, 0);
    try {
      const r = await runKmx(['procsys', 'mount', mnt]);
      assert.match(r.stderr, /already a mount point \(tmpfs from kmxtest\)/);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    } finally {
      await sh(`umount '${mnt}'`);
    }
    await writeFile(join(dir, 'cluster.json'), '{"hosts": [');
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--cluster', join(dir, 'cluster.json'), mnt]), dir, /cluster\.json is not valid JSON/, { exitCode: 1, exceptProcesses: AGENTS });
    await writeFile(join(dir, 'cluster.json'), '{"nodes": []}');
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--cluster', join(dir, 'cluster.json'), mnt]), dir, /has no "hosts" list/, { exitCode: 1, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'mount', '--cluster', join(dir, 'missing.json'), mnt]), dir, /cannot read the cluster file .*: ENOENT/, { exitCode: 1, exceptProcesses: AGENTS });
    await withAgent(['--insecure'], async (address) => {
      await assertCleanFailure(await runKmx(['procsys', 'serve', '--insecure', '--listen', address]), dir, /cannot listen on 127\.0\.0\.1:\d+: .*; choose another port/, { exitCode: 1, exceptProcesses: AGENTS });
    });
    await assertCleanFailure(await runKmx(['procsys', 'certs', '--dir', join(dir, 'c'), '--node', '../evil']), dir, /invalid node name "\.\.\/evil"/, { exitCode: 2, exceptProcesses: AGENTS });
    assert.deepEqual(await readdir(dir).then((l) => l.filter((n) => n === 'c')), [], 'no directory made for a refused name');
  }));

  it('run: a command that does not exist, a mount that is not a view', () => temporaryDirectory(async (dir) => {
    await assertCleanFailure(await runKmx(['procsys', 'run', '--', 'kmx-no-such-command'], { env: { ...process.env, TMPDIR: dir } }), dir, /command not found: kmx-no-such-command/, { exitCode: 127, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'run', '--mount', dir, '--', 'true']), dir, /is not a mount point/, { exitCode: 1, exceptProcesses: AGENTS });
    await assertCleanFailure(await runKmx(['procsys', 'run']), dir, /no command given|Missing/, { exitCode: 2, exceptProcesses: AGENTS });
    const leftovers = (await readdir(dir)).filter((n) => n.startsWith('kmx-procsys-run-'));
    assert.deepEqual(leftovers, []);
    assert.deepEqual(await mountsUnder(dir), [], 'no view left mounted (other tests\' runs mount theirs elsewhere)');
  }));
});
