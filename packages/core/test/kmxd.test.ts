import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run, temporaryDirectory, withTestUsers, type TestUser } from '@kmx/core/testing';
import { readMountinfo } from '../src/mount/index.js';
import { ask, askOne, concurrent, kmxdBin, sendRaw, withDaemon, type Answer } from './kmxd-harness.js';

/** kmxd over its real socket, with real users, mounting tmpfs (a kernel filesystem this host has). */

const tmpfs = (name: string, extra: object = {}): object => ({ mountTmpfs: { name, sizeMib: 8, ...extra } });
const nfs = (extra: object): object => ({ mountNfs: { name: 'n', server: '127.0.0.1', exportPath: '/export', version: 4, ...extra } });

function refused(answer: Answer | undefined, errno?: string | string[]): void {
  assert.equal(answer?.kind, 'error', `expected a refusal, got ${JSON.stringify(answer)}`);
  if (errno) assert.ok([errno].flat().includes(answer.value.errno ?? ''), `expected ${String(errno)}, got ${JSON.stringify(answer.value)}`);
  assert.ok((answer.value.message ?? '').length > 0 && !(answer.value.message ?? '').includes('\n'), 'one-line message');
}

async function mountsUnder(dir: string): Promise<string[]> {
  return (await readMountinfo()).map((m) => m.mountpoint).filter((p) => p.startsWith(`${dir}/`));
}

/** Every symlink in a home, to prove nothing was linked where it must not be. */
function links(user: TestUser): string[] {
  return readdirSync(user.home, { recursive: true }).map(String).filter((p) => lstatSync(join(user.home, p)).isSymbolicLink()).sort();
}

describe('kmxd', () => {
  it('prints --help, refuses bad flags and non-root with one line', async () => {
    const help = await run(process.execPath, [kmxdBin, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--socket PATH/);
    assert.match(help.stdout, /--state-dir DIR/);
    assert.match(help.stdout, /--log-level LEVEL/);
    assert.match(help.stdout, /Without systemd/);
    const bad = await run(process.execPath, [kmxdBin, '--log-level', 'loud']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    await withTestUsers(1, async ([alice]) => {
      const r = await run(process.execPath, [kmxdBin, '--socket', '/tmp/x.sock'], { uid: alice!.uid, gid: alice!.gid });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /must run as root/);
    });
  });

  it('mounts for a user at media/$USER/<name> (nosuid,nodev, theirs), links in $HOME as them, lists, unmounts and unlinks', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => withDaemon(dir, async (d) => {
    assert.ok(alice);
    const pong = await askOne(alice, d.socket, { ping: {} });
    assert.deepEqual({ user: pong.value.user, uid: pong.value.uid }, { user: alice.name, uid: alice.uid });
    const mounted = await askOne(alice, d.socket, tmpfs('scratch', { link: 'scratch' }));
    assert.equal(mounted.kind, 'mounted', JSON.stringify(mounted));
    const path = join(d.media, alice.name, 'scratch');
    assert.equal(mounted.value.mount?.path, path);
    const m = (await readMountinfo()).find((x) => x.mountpoint === path);
    assert.equal(m?.fstype, 'tmpfs');
    for (const o of ['nosuid', 'nodev']) assert.ok(m.mountOptions.split(',').includes(o), m.mountOptions);
    // the user can use it, and the link is theirs
    const write = await run('/bin/sh', ['-c', `echo hi > '${path}/f' && cat '${join(alice.home, 'scratch')}/f'`], { uid: alice.uid, gid: alice.gid });
    assert.equal(write.stdout, 'hi\n', write.stderr);
    assert.equal(readlinkSync(join(alice.home, 'scratch')), path);
    assert.equal(lstatSync(join(alice.home, 'scratch')).uid, alice.uid);
    const list = await askOne(alice, d.socket, { list: {} });
    assert.deepEqual(list.value.mounts?.map((x) => x.name), ['scratch']);
    const id = mounted.value.mount!.id;
    const gone = await askOne(alice, d.socket, { unmount: { id, unlink: true } });
    assert.equal(gone.kind, 'unmounted', JSON.stringify(gone));
    assert.equal(gone.value.unlinked, true);
    assert.deepEqual(await mountsUnder(d.media), []);
    assert.equal(existsSync(path), false, 'the mount dir is removed');
    assert.deepEqual(links(alice), []);
    assert.match(d.log(), new RegExp(`^${alice.name}\\(${alice.uid}\\) pid \\d+ \\| mounted tmpfs`, 'm'));
  }))));

  it('refuses 40 hostile requests with nothing mounted, linked or unlinked', () => temporaryDirectory((dir) => withTestUsers(2, ([alice, bob]) => withDaemon(dir, async (d) => {
    assert.ok(alice && bob);
    // alice's home: a component swapped for a symlink to /etc, and a file where a link would go
    symlinkSync('/etc', join(alice.home, 'docs'));
    writeFileSync(join(alice.home, 'taken'), 'x');
    // What the requests could plant in /etc (other tests' useradd makes and removes its lock files there meanwhile).
    const planted = (): string[] => readdirSync('/etc').filter((n) => /kmx|evil/.test(n)).sort();
    const etcBefore = planted();
    const aliceLinksBefore = links(alice);

    const hostile: Array<[string, object, string | string[]]> = [
      ['name ..', tmpfs('..'), 'EINVAL'],
      ['name .', tmpfs('.'), 'EINVAL'],
      ['name with /', tmpfs('a/b'), 'EINVAL'],
      ['absolute name', tmpfs('/etc'), 'EINVAL'],
      ['name ../../etc', tmpfs('../../etc'), 'EINVAL'],
      ['empty name', tmpfs(''), 'EINVAL'],
      ['name with newline', tmpfs('a\nb'), 'EINVAL'],
      ['name with comma', tmpfs('a,uid=0'), 'EINVAL'],
      ['name with backslash', tmpfs('a\\054b'), 'EINVAL'],
      ['name with NUL', tmpfs('a\u0000b'), 'EINVAL'],
      ['name with tab', tmpfs('a\tb'), 'EINVAL'],
      ['name of 256 bytes', tmpfs('x'.repeat(256)), 'ENAMETOOLONG'],
      // What would make a name read as another in logs and `kmx mounts`
      ['name with a right-to-left override', tmpfs('gpj.\u202Eexe'), 'EINVAL'],
      ['name with a zero-width space', tmpfs('da\u200Bta'), 'EINVAL'],
      ['name with a fullwidth solidus', tmpfs('etc\uFF0Fshadow'), 'EINVAL'],
      ['name with a division slash', tmpfs('etc\u2215shadow'), 'EINVAL'],
      ['name with a no-break space', tmpfs('a\u00A0b'), 'EINVAL'],
      ['name with a line separator', tmpfs('a\u2028b'), 'EINVAL'],
      ['name with a private-use character', tmpfs('a\uE000b'), 'EINVAL'],
      ['link with a bidi override', tmpfs('l0', { link: 'docs\u202E/x' }), 'EINVAL'],
      ['absolute link', tmpfs('l1', { link: '/etc/kmx-evil' }), 'EINVAL'],
      ['link escaping home', tmpfs('l2', { link: `../${bob.name}/evil` }), 'EINVAL'],
      ['link with .. inside', tmpfs('l3', { link: 'a/../../evil' }), 'EINVAL'],
      ['link through a $HOME symlink', tmpfs('l4', { link: 'docs/kmx-evil' }), ['ENOTDIR', 'ELOOP']],
      ['link over an existing file', tmpfs('l5', { link: 'taken' }), 'EEXIST'],
      ['tmpfs too large', tmpfs('big', { sizeMib: 4096 }), 'EINVAL'],
      ['nfs option key with comma', nfs({ options: [{ key: 'soft,uid=0', value: '' }] }), 'EINVAL'],
      ['nfs option value with comma', nfs({ options: [{ key: 'sec', value: 'sys,suid' }] }), 'EINVAL'],
      ['nfs option value with backslash', nfs({ options: [{ key: 'sec', value: 'sys\\,suid' }] }), 'EINVAL'],
      ['nfs option value with newline', nfs({ options: [{ key: 'timeo', value: '10\nsuid' }] }), 'EINVAL'],
      ['nfs option value with tab', nfs({ options: [{ key: 'timeo', value: '10\tdev' }] }), 'EINVAL'],
      ['nfs option value with NUL', nfs({ options: [{ key: 'timeo', value: '10\u0000' }] }), 'EINVAL'],
      ['nfs option suid', nfs({ options: [{ key: 'suid', value: '' }] }), 'EPERM'],
      ['nfs option dev', nfs({ options: [{ key: 'dev', value: '' }] }), 'EPERM'],
      ['nfs option exec as string', nfs({ options: [{ key: 'exec', value: '' }] }), 'EPERM'],
      ['nfs option key=value smuggled in key', nfs({ options: [{ key: 'addr=10.0.0.1', value: '' }] }), 'EINVAL'],
      ['nfs option addr', nfs({ options: [{ key: 'addr', value: '10.0.0.1' }] }), 'EPERM'],
      ['nfs option with bad value', nfs({ options: [{ key: 'sec', value: 'none' }] }), 'EINVAL'],
      ['nfs __proto__ option', nfs({ options: [{ key: '__proto__', value: '' }] }), 'EPERM'],
      ['nfs export with comma', nfs({ exportPath: '/export,suid' }), 'EINVAL'],
      ['nfs relative export', nfs({ exportPath: 'export' }), 'EINVAL'],
      ['nfs export with ..', nfs({ exportPath: '/export/../etc' }), 'EINVAL'],
      ['nfs server with option', nfs({ server: '127.0.0.1,addr=10.1.1.1' }), 'EINVAL'],
      ['nfs server with newline', nfs({ server: 'a\nb' }), 'EINVAL'],
      ['nfs unknown version', nfs({ version: 9 }), 'EINVAL'],
      ['nfs port out of range', nfs({ port: 70000 }), 'EINVAL'],
      ['unmount of an unknown id', { unmount: { id: '../../etc' } }, 'ENOENT'],
      ['empty request', {}, 'EINVAL'],
    ];
    const answers = await ask(alice, d.socket, ...hostile.map(([, request]) => request));
    assert.equal(answers.length, hostile.length);
    hostile.forEach(([what, , errno], i) => assert.doesNotThrow(() => refused(answers[i], errno), what));

    assert.deepEqual(await mountsUnder(d.media), [], 'nothing mounted');
    assert.deepEqual(readdirSync(join(d.media, alice.name)), [], 'no mount dir left');
    assert.deepEqual(links(alice), aliceLinksBefore, 'nothing linked');
    assert.deepEqual(planted(), etcBefore, 'nothing in /etc');
    assert.equal(readFileSync(join(alice.home, 'taken'), 'utf8'), 'x');
  }))));

  it('keeps users apart: no unmount, list or unlink of another user\'s mount; --unlink keeps a retargeted link', () => temporaryDirectory((dir) => withTestUsers(2, ([alice, bob]) => withDaemon(dir, async (d) => {
    assert.ok(alice && bob);
    const mounted = await askOne(alice, d.socket, tmpfs('data', { link: 'data' }));
    const id = mounted.value.mount!.id;
    const path = mounted.value.mount!.path;
    refused(await askOne(bob, d.socket, { unmount: { id, unlink: true } }), 'ENOENT');
    assert.deepEqual((await askOne(bob, d.socket, { list: {} })).value.mounts ?? [], []);
    assert.ok((await mountsUnder(d.media)).includes(path), 'bob unmounted alice\'s mount');
    assert.equal(readlinkSync(join(alice.home, 'data')), path);
    // bob's link request cannot land in alice's home
    refused(await askOne(bob, d.socket, tmpfs('x', { link: `../${alice.name}/bob-was-here` })), 'EINVAL');
    assert.equal(existsSync(join(alice.home, 'bob-was-here')), false);
    // alice points her link elsewhere: --unlink must leave it alone
    const linkPath = join(alice.home, 'data');
    await run('/bin/sh', ['-c', `rm '${linkPath}' && ln -s /etc/hostname '${linkPath}'`], { uid: alice.uid, gid: alice.gid });
    const gone = await askOne(alice, d.socket, { unmount: { id, unlink: true } });
    assert.equal(gone.kind, 'unmounted');
    assert.equal(gone.value.unlinked ?? false, false);
    assert.equal(readlinkSync(linkPath), '/etc/hostname');
    assert.deepEqual(await mountsUnder(d.media), []);
  }))));

  it('refuses a second mount of a name in use and a planted mount dir', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => withDaemon(dir, async (d) => {
    assert.ok(alice);
    const first = await askOne(alice, d.socket, tmpfs('dup'));
    assert.equal(first.kind, 'mounted');
    refused(await askOne(alice, d.socket, tmpfs('dup')), 'EEXIST');
    mkdirSync(join(d.media, alice.name, 'planted'));
    symlinkSync('/etc', join(d.media, alice.name, 'planted-link'));
    refused(await askOne(alice, d.socket, tmpfs('planted')), 'EEXIST');
    refused(await askOne(alice, d.socket, tmpfs('planted-link')), 'EEXIST');
    assert.deepEqual((await mountsUnder(d.media)).length, 1);
    assert.equal((await askOne(alice, d.socket, { unmount: { id: first.value.mount!.id } })).kind, 'unmounted');
  }))));

  it('closes the connection on garbage, oversized and over-long frames and a wrong version, and keeps serving', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => withDaemon(dir, async (d) => {
    assert.ok(alice);
    const cases: Array<[string, string]> = [
      ['garbage body', `05${'ff'.repeat(5)}`],
      ['frame of 1 MiB announced', `808040${'00'.repeat(16)}`],
      ['length varint of 5 bytes', 'ffffffff0f'],
      ['random bytes', 'deadbeefcafebabe0102030405'],
    ];
    for (const [what, hex] of cases) {
      const out = await sendRaw(alice, d.socket, hex);
      assert.equal(out.at(-1)?.kind, 'closed', what);
      assert.equal(out[0]?.kind, 'error', `${what}: ${JSON.stringify(out)}`);
      assert.equal(out[0]?.value.errno, 'EPROTO', what);
    }
    // version 2, id 7, ping: answered EPROTO, connection stays
    const wrongVersion = await sendRaw(alice, d.socket, '06080210077200');
    assert.equal(wrongVersion[0]?.value.errno, 'EPROTO');
    assert.equal((await askOne(alice, d.socket, { ping: {} })).kind, 'pong');
    assert.deepEqual(await mountsUnder(d.media), []);
  }))));

  it('mounts in the caller\'s mount namespace, not kmxd\'s', () => temporaryDirectory((dir) => withTestUsers(1, ([alice]) => withDaemon(dir, async (d) => {
    assert.ok(alice);
    const path = join(d.media, alice.name, 'private');
    const fixture = new URL('./fixtures/kmxd-client.js', import.meta.url).pathname;
    // alice's client runs in a mount namespace of its own; the shell around it outlives it there.
    const r = await run('unshare', ['--mount', '--propagation', 'private', '--', 'setpriv', `--reuid=${alice.uid}`, `--regid=${alice.gid}`, '--clear-groups', '--',
      '/bin/sh', '-c', `'${process.execPath}' '${fixture}' requests '${d.socket}' '${JSON.stringify([tmpfs('private')])}' && grep -c ' ${path} ' /proc/self/mountinfo`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /"kind":"mounted"/);
    assert.match(r.stdout, /\n1\n$/, 'the mount is in the client\'s namespace');
    assert.deepEqual(await mountsUnder(d.media), [], 'and not in kmxd\'s');
  }))));

  it('serves 100 concurrent clients, and caps connections per user', () => temporaryDirectory((dir) => withTestUsers(2, async ([alice, bob]) => {
    assert.ok(alice && bob);
    await withDaemon(dir, async (d) => {
      assert.deepEqual(await concurrent(alice, d.socket, 100), { ok: 100, errors: [] });
    });
    await withDaemon(dir, async (d) => {
      const capped = await concurrent(bob, d.socket, 12);
      assert.equal(capped.ok, 5);
      assert.ok(capped.errors.every((e) => e === 'EAGAIN'), capped.errors.join(','));
    }, ['--max-clients-per-user', '5']);
  })));
});
