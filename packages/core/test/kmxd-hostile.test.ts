import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { run, temporaryDirectory, withTestUsers, type TestUser } from '@kmx/core/testing';
import { encodeRequest, kmxd, PROTOCOL_VERSION } from '../src/daemon/index.js';
import { readMountinfo } from '../src/mount/index.js';
import { ask, askOne, kmxdBin, withDaemon, type Answer, type TestDaemon } from './kmxd-harness.js';

/**
 * kmxd against clients that mean harm or break: none of them may end it or hold it up, and an
 * ordinary user keeps being served meanwhile. The fuzzer runs $KMX_FUZZ_RUNS cases (default 300).
 */

const FUZZ_RUNS = Number(process.env.KMX_FUZZ_RUNS ?? 300);

const tmpfs = (name: string, extra: object = {}): object => ({ mountTmpfs: { name, sizeMib: 8, ...extra } });

function refused(answer: Answer | undefined, errno: string): void {
  assert.equal(answer?.kind, 'error', `expected ${errno}, got ${JSON.stringify(answer)}`);
  assert.equal(answer.value.errno, errno, JSON.stringify(answer.value));
  assert.ok((answer.value.message ?? '').length > 0 && !(answer.value.message ?? '').includes('\n'), 'one-line message');
}

/** kmxd still runs, and answers a ping on a new connection. */
async function assertServing(d: TestDaemon, user: TestUser): Promise<void> {
  assert.equal(d.process.exitCode, null, `kmxd exited:\n${d.log()}`);
  assert.equal(d.process.signalCode, null, `kmxd was killed:\n${d.log()}`);
  assert.equal((await askOne(user, d.socket, { ping: {} })).kind, 'pong', d.log());
}

/** `count` connections as root from this process, each handed to `act` once connected. */
async function connections(socketPath: string, count: number, act: (socket: Socket) => void): Promise<void> {
  await Promise.all(Array.from({ length: count }, () => new Promise<void>((resolve) => {
    const socket = createConnection(socketPath);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.on('connect', () => act(socket));
    setTimeout(() => socket.destroy(), 3000).unref();
  })));
}

/** Alice mounts and unmounts a tmpfs `rounds` times; every answer must be a success. */
async function mountAndUnmount(alice: TestUser, d: TestDaemon, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const mounted = await askOne(alice, d.socket, tmpfs(`steady${i}`));
    assert.equal(mounted.kind, 'mounted', JSON.stringify(mounted));
    const gone = await askOne(alice, d.socket, { unmount: { id: mounted.value.mount!.id } });
    assert.equal(gone.kind, 'unmounted', JSON.stringify(gone));
  }
}

async function mountsUnder(dir: string): Promise<string[]> {
  return (await readMountinfo()).map((m) => m.mountpoint).filter((p) => p.startsWith(`${dir}/`));
}

/** Connects as `uid` (which need not exist), `count` times, and hangs up at once each time. */
function hangUpsAs(uid: number, socketPath: string, count: number): Promise<unknown> {
  const script = `const net = require('net'); let left = ${count};
    for (let i = 0; i < ${count}; i++) { const s = net.createConnection(${JSON.stringify(socketPath)});
      s.on('error', () => {}); s.on('connect', () => { if (i % 2) s.write(Buffer.from([5, 1, 2])); s.destroy(); });
      s.on('close', () => { if (--left === 0) process.exit(0); }); }`;
  return run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', script], { timeoutMs: 60_000 });
}

/** Any request kmxd's schema can carry, with hostile values in every field. */
const requestArbitrary = fc.record({
  id: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  version: fc.constantFrom(PROTOCOL_VERSION, PROTOCOL_VERSION, 0, 2, 2 ** 31),
  body: fc.oneof(
    fc.constant({ ping: {} }),
    fc.constant({ list: {} }),
    fc.record({ unmount: fc.record({ id: fc.string({ maxLength: 40 }), unlink: fc.boolean() }) }),
    fc.record({ mountTmpfs: fc.record({ name: fc.string({ unit: 'binary', maxLength: 300 }), sizeMib: fc.integer({ min: -5, max: 1 << 20 }), link: fc.string({ unit: 'binary', maxLength: 50 }), readOnly: fc.boolean() }) }),
    // Servers are address literals only: a host name would make kmxd ask DNS.
    fc.record({ mountNfs: fc.record({
      name: fc.string({ maxLength: 20 }), server: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('127.0.0.1', '0.0.0.0', '::1', '::ffff:127.0.0.1', '169.254.1.1')),
      exportPath: fc.string({ maxLength: 40 }), version: fc.integer({ min: 0, max: 10 }), port: fc.integer({ min: 0, max: 70_000 }), mountPort: fc.integer({ min: 0, max: 70_000 }),
      options: fc.array(fc.record({ key: fc.string({ maxLength: 12 }), value: fc.string({ maxLength: 12 }) }), { maxLength: 20 }),
    }) }),
    fc.record({ mountSmb: fc.record({
      name: fc.string({ maxLength: 20 }), server: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('192.0.2.7', '127.0.0.1', '::1')),
      share: fc.string({ unit: 'binary', maxLength: 90 }), path: fc.string({ maxLength: 40 }), version: fc.integer({ min: 0, max: 10 }), port: fc.integer({ min: 0, max: 70_000 }),
      user: fc.string({ unit: 'binary', maxLength: 300 }), domain: fc.string({ maxLength: 40 }), password: fc.uint8Array({ maxLength: 700 }), kerberos: fc.boolean(),
      options: fc.array(fc.record({ key: fc.constantFrom('uid', 'forceuid', 'credentials', 'multiuser', 'cache', 'soft', '__proto__', 'ro'), value: fc.string({ maxLength: 12 }) }), { maxLength: 20 }),
    }) }),
  ),
});

/** Bytes a client may send: valid frames of hostile requests, frames of noise, and plain noise. */
const bytesArbitrary = fc.oneof(
  requestArbitrary.map(({ id, version, body }) => encodeRequest({ id, version, ...body } as kmxd.Request.$Properties)),
  fc.uint8Array({ maxLength: 200 }).map((body) => Buffer.concat([Buffer.from([body.length & 0x7f | (body.length > 127 ? 0x80 : 0)]), ...(body.length > 127 ? [Buffer.from([body.length >> 7])] : []), body])),
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
);

describe('kmxd under hostile clients', () => {
  it('a uid without a passwd entry, and connections over the per-user cap, that hang up at once, never end kmxd', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => withDaemon(dir, async (d) => {
    assert.ok(alice);
    // Refused at accept time, answered, and gone before the answer: the write meets a closed peer.
    await hangUpsAs(54_321, d.socket, 200);
    await assertServing(d, alice);
    const held = await Promise.all([0, 1].map(() => new Promise<Socket>((resolve) => {
      const s = createConnection(d.socket, () => resolve(s));
      s.on('error', () => undefined);
    })));
    try {
      // Those two are root's; alice holds her own two, then hangs up forty times over the cap.
      const holdAndHangUp = `const net = require('net'); const keep = [0, 1].map(() => net.createConnection(${JSON.stringify(d.socket)}));
        keep.forEach((s) => s.on('error', () => {}));
        setTimeout(() => { let left = 40; for (let i = 0; i < 40; i++) { const s = net.createConnection(${JSON.stringify(d.socket)});
          s.on('error', () => {}); s.on('connect', () => s.destroy()); s.on('close', () => { if (--left === 0) process.exit(0); }); } }, 300);`;
      const r = await run('setpriv', [`--reuid=${alice.uid}`, `--regid=${alice.gid}`, '--clear-groups', process.execPath, '-e', holdAndHangUp], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      for (const s of held) s.destroy();
    }
    await sleep(200);
    await assertServing(d, alice);
    assert.match(d.log(), /unknown peer \| refused: .*no passwd entry/);
    assert.match(d.log(), /refused: more than 2 connections/);
  }, ['--max-clients-per-user', '2']))));

  it(`survives ${FUZZ_RUNS} random connections (frames of hostile requests, noise, drops at every stage) while a user keeps mounting and unmounting`, () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => {
    // NFS and SMB servers only in a documentation range: what passes goes no further than this
    // kernel's missing NFS and CIFS clients, and nothing leaves the machine.
    writeFileSync(join(dir, 'kmxd.conf'), 'nfs-servers 192.0.2.0/24\nsmb-servers 192.0.2.0/24\n');
    return withDaemon(dir, async (d) => {
    assert.ok(alice);
    let fuzzing = true;
    const steady = (async () => {
      let rounds = 0;
      while (fuzzing) {
        await mountAndUnmount(alice, d, 1);
        rounds++;
      }
      return rounds;
    })();
    try {
      await fc.assert(fc.asyncProperty(fc.array(bytesArbitrary, { minLength: 1, maxLength: 4 }), fc.constantFrom('close-after-write', 'wait-for-answer', 'half-written', 'close-at-once'), async (chunks, ending) => {
        await connections(d.socket, 1, (socket) => {
          if (ending === 'close-at-once') {
            socket.destroy();
            return;
          }
          const data = Buffer.concat(chunks);
          socket.write(ending === 'half-written' ? data.subarray(0, Math.max(1, data.length >> 1)) : data);
          if (ending === 'wait-for-answer') socket.once('data', () => socket.destroy());
          else socket.destroy();
        });
        assert.equal(d.process.exitCode, null, `kmxd exited:\n${d.log()}`);
      }), { numRuns: FUZZ_RUNS, seed: process.env.KMX_FUZZ_SEED ? Number(process.env.KMX_FUZZ_SEED) : undefined });
    } finally {
      fuzzing = false;
    }
    assert.ok((await steady) > 0, 'alice was served throughout');
    await assertServing(d, alice);
    assert.doesNotMatch(d.log(), /unexpected error|internal error/, d.log());
    }, ['--config', join(dir, 'kmxd.conf')]);
  })));

  it('a client that never sends, and one that sends a byte a second, hold up no one; the slow one is cut off', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => withDaemon(dir, async (d) => {
    assert.ok(alice);
    const silent = createConnection(d.socket);
    silent.on('error', () => undefined);
    const slow = createConnection(d.socket);
    slow.on('error', () => undefined);
    const frame = encodeRequest({ id: 1, version: PROTOCOL_VERSION, ping: {} });
    let closedAfter = -1;
    const started = Date.now();
    slow.on('close', () => (closedAfter = Date.now() - started));
    try {
      for (let i = 0; i < 14 && closedAfter < 0; i++) {
        // one byte of a long frame each second: the frame never completes
        if (i === 0) slow.write(Buffer.from([0xff, 0x01]));
        else slow.write(Buffer.from([frame[i % frame.length]!]));
        if (i % 4 === 0) await mountAndUnmount(alice, d, 1);
        await sleep(1000);
      }
      assert.ok(closedAfter >= 9_000 && closedAfter < 14_000, `the slow client was cut off after ${closedAfter} ms`);
      assert.equal(silent.destroyed, false, 'an idle connection stays until the idle timeout');
      await assertServing(d, alice);
      assert.match(d.log(), /closing: a frame begun 10 s ago is still incomplete/);
    } finally {
      silent.destroy();
      slow.destroy();
    }
  }))));

  it('keeps each user within root\'s budget: mounts and tmpfs size, also under concurrent requests', () => temporaryDirectory((dir) => withTestUsers(2, ([alice, bob]) => {
    assert.ok(alice && bob);
    const config = join(dir, 'kmxd.conf');
    writeFileSync(config, '# test budget\nmax-mounts-per-user 3\nmax-tmpfs-mib-per-user 20\n');
    return withDaemon(dir, async (d) => {
      // Ten requests at once on one connection each: no more than the budget gets through.
      const answers = (await Promise.all(Array.from({ length: 10 }, (_, i) => askOne(alice, d.socket, tmpfs(`m${i}`, { sizeMib: 4 })))));
      const mounted = answers.filter((a) => a.kind === 'mounted');
      assert.equal(mounted.length, 3, JSON.stringify(answers));
      for (const a of answers.filter((x) => x.kind !== 'mounted')) refused(a, 'EDQUOT');
      assert.match(answers.find((a) => a.kind === 'error')?.value.message ?? '', /3 mounts, the most kmxd allows one user \(max-mounts-per-user/);
      // 12 MiB in use: 10 more would pass the size budget of 20.
      const gone = await askOne(alice, d.socket, { unmount: { id: mounted[0]!.value.mount!.id } });
      assert.equal(gone.kind, 'unmounted');
      const big = await askOne(alice, d.socket, tmpfs('big', { sizeMib: 13 }));
      refused(big, 'EDQUOT');
      assert.match(big.value.message ?? '', /8 MiB of tmpfs in use and 13 more asked: one user may have 20 MiB/);
      assert.equal((await askOne(alice, d.socket, tmpfs('fits', { sizeMib: 12 }))).kind, 'mounted');
      // Bob's budget is his own.
      assert.equal((await askOne(bob, d.socket, tmpfs('bobs', { sizeMib: 20 }))).kind, 'mounted');
      assert.equal((await mountsUnder(d.media)).length, 4);
    }, ['--config', config]);
  })));

  it('refuses NFS servers and ports outside root\'s policy with EACCES, before any mount', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => {
    assert.ok(alice);
    const config = join(dir, 'kmxd.conf');
    writeFileSync(config, 'nfs-servers 10.0.0.0/8, 127.0.0.1\nnfs-ports 2049 3049\n');
    const nfs = (server: string, extra: object = {}): object => ({ mountNfs: { name: 'n', server, exportPath: '/export', version: 4, ...extra } });
    return withDaemon(dir, async (d) => {
      const answers = await ask(alice, d.socket,
        nfs('127.0.0.1'), nfs('127.1.2.3'), nfs('0.0.0.0'), nfs('::1'), nfs('::ffff:127.0.0.1'), nfs('169.254.1.1'), nfs('224.0.0.1'), nfs('fe80::1'),
        nfs('192.168.1.10'), nfs('8.8.8.8'), nfs('10.1.2.3', { port: 22 }), nfs('10.1.2.3', { version: 3, mountPort: 111 }));
      for (const a of answers) refused(a, 'EACCES');
      assert.match(answers[0]?.value.message ?? '', /is this host, no host, link-local or multicast/, 'listing loopback does not allow it');
      assert.match(answers[8]?.value.message ?? '', /kmxd mounts only from 10\.0\.0\.0\/8, 127\.0\.0\.1 \(nfs-servers in/);
      assert.match(answers[10]?.value.message ?? '', /NFS port 2049, 3049/);
      // Allowed by the policy: kmxd goes on (this kernel has no NFS client: the mount itself fails).
      const allowed = await askOne(alice, d.socket, nfs('10.1.2.3', { port: 3049 }));
      assert.equal(allowed.kind, 'error');
      assert.notEqual(allowed.value.errno, 'EACCES', JSON.stringify(allowed.value));
      assert.deepEqual(await mountsUnder(d.media), []);
    }, ['--config', config]);
  })));

  it('refuses a bad policy file with one line, and the defaults refuse loopback and any port but 2049', async () => temporaryDirectory(async (dir) => {
    for (const [text, message] of [
      ['nfs-servers 10.0.0.0/33', /line 1: "10\.0\.0\.0\/33" is not an address range/],
      ['# fine\nmax-mounts-per-user many', /line 2: max-mounts-per-user takes a whole number/],
      ['nfs-ports', /line 1: nfs-ports needs at least one port/],
      ['max-mounts-per-user 2\nmax-mounts-per-user 3', /line 2: max-mounts-per-user is set twice/],
      ['allow-everything yes', /line 1: unknown setting "allow-everything"/],
    ] as const) {
      writeFileSync(join(dir, 'bad.conf'), text);
      const r = await run(process.execPath, [kmxdBin, '--config', join(dir, 'bad.conf'), '--socket', join(dir, 's')]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
    await withTestUsers(1, ([alice]) => withDaemon(dir, async (d) => {
      const [loopback, port] = await ask(alice, d.socket,
        { mountNfs: { name: 'n', server: '127.0.0.1', exportPath: '/export', version: 4 } },
        { mountNfs: { name: 'n', server: '10.1.1.1', exportPath: '/export', version: 4, port: 12049 } });
      refused(loopback, 'EACCES');
      refused(port, 'EACCES');
    }, ['--config', join(dir, 'missing.conf')]));
  }));

  it('refuses a caller whose mount namespace its own user namespace owns; a copy of a mount there keeps nosuid,nodev', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => withDaemon(dir, async (d) => {
    assert.ok(alice);
    const fixture = new URL('./fixtures/kmxd-client.js', import.meta.url).pathname;
    const asAlice = ['setpriv', `--reuid=${alice.uid}`, `--regid=${alice.gid}`, '--clear-groups', '--'];
    // unshare -Urm: alice is root in a user namespace of her own, which owns her new mount namespace.
    const inside = await run(asAlice[0]!, [...asAlice.slice(1), 'unshare', '-Urm', '/bin/sh', '-c',
      `'${process.execPath}' '${fixture}' requests '${d.socket}' '${JSON.stringify([tmpfs('owned')])}'; grep -c ' ${d.media}/' /proc/self/mountinfo || true`]);
    const [answer, count] = inside.stdout.trim().split('\n');
    const refusal = JSON.parse(answer ?? '{}') as Answer;
    refused(refusal, 'EPERM');
    assert.match(refusal.value.message ?? '', /mount namespace belongs to a user namespace of its own/);
    assert.equal(count, '0', 'nothing mounted in her namespace');
    assert.deepEqual(await mountsUnder(d.media), []);
    // Mounted where she may not change mounts, then copied into such a namespace: locked there.
    const mounted = await askOne(alice, d.socket, tmpfs('locked'));
    assert.equal(mounted.kind, 'mounted');
    const path = mounted.value.mount!.path;
    const remount = await run(asAlice[0]!, [...asAlice.slice(1), 'unshare', '-Urm', '/bin/sh', '-c',
      `mount -o remount,bind,suid,dev '${path}'; echo "remount=$?"; grep ' ${path} ' /proc/self/mountinfo`]);
    assert.match(remount.stdout, /remount=[1-9]/, remount.stdout + remount.stderr);
    assert.match(remount.stdout, /nosuid,nodev/, remount.stdout);
  }))));
});
