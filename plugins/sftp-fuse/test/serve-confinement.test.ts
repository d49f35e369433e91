// kmx sftp serve must not read, write, truncate, change, list or reveal anything outside its
// root, whatever the request. Targeted regressions first, then a randomized suite: sequences
// of every SFTP v3 request and extension, on paths drawn from a pool full of escapes, against a
// server running as root (the dangerous case) and as nobody, while a worker keeps swapping
// directories inside the root for symlinks that point out; after each sequence the canary tree
// outside the root must be exactly as it was, and no reply may have carried its contents, its
// names or its owner.
//
// KMX_FUZZ_RUNS sets the number of sequences as root (default 200; a third of that as nobody);
// KMX_FUZZ_VERBOSE=1 prints how each kind of request was answered.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { temporaryDirectory } from '@kmx/core/testing';
import { KMX_POSIX, decodeRecord, encodeTimes } from '../src/lib/protocol/kmx-posix.js';
import { diff, leaks, snapshot } from './confinement-checks.js';
import { opArbitrary, send } from './confinement-requests.js';
import { CANARY_UID, NOBODY, buildOutside, layout, resetRoot } from './confinement-tree.js';
import { FXP, RawSftp, STATUS_OK, enc, type Reply } from './raw-sftp.js';
import { racing } from './swap-race.js';
import { withServe } from './support.js';

const RUNS_AS_ROOT = Number(process.env.KMX_FUZZ_RUNS ?? 200);
const RUNS_AS_NOBODY = Math.max(1, Math.round(RUNS_AS_ROOT / 3));

/** Runs the randomized suite against one server (as `uid`) over `runs` sequences. */
async function fuzz(base: string, uid: number, runs: number): Promise<{ requests: number; exchanges: number; statuses: Map<string, number> }> {
  const l = layout(base, uid);
  buildOutside(l);
  resetRoot(l);
  fs.chownSync(l.root, uid, uid);
  let before = snapshot(l);
  const options = uid === 0 ? {} : { uid, gid: uid, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } };
  let requests = 0;
  const statuses = new Map<string, number>();
  const exchanges = await racing(l.root, l.swaps, options, async (client, swapper) => {
    assert.equal(client.extensions.get('lsetstat@openssh.com'), '1', 'the server announces lsetstat');
    assert.equal(client.extensions.get(KMX_POSIX), '1', `the server announces ${KMX_POSIX}`);
    await fc.assert(fc.asyncProperty(fc.array(opArbitrary(l), { minLength: 1, maxLength: 80, size: 'max' }), async (ops) => {
      await swapper.pause();
      const now = snapshot(l);
      if (now !== before) {
        // A failed sequence before this one (or its shrinking) left marks: start again from a fresh outside.
        buildOutside(l);
        before = snapshot(l);
      }
      resetRoot(l);
      fs.chownSync(l.root, uid, uid);
      fs.chmodSync(l.root, 0o755);
      swapper.resume();
      const handles: Buffer[] = [];
      try {
        for (const op of ops) {
          const reply = await send(client, op, handles);
          requests++;
          if (reply.type === -1) throw new Error(`the server is gone: ${reply.status?.message}; stderr: ${client.stderr}`);
          const outcome = reply.type !== FXP.STATUS || reply.status?.code === STATUS_OK ? 'ok' : reply.status?.message.split(':')[0] || `status ${reply.status?.code}`;
          const key = `${op.k}:${outcome}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          if (reply.handle) handles.push(reply.handle);
          const found = leaks(l, reply);
          if (found.length > 0) throw new Error(`${JSON.stringify(op, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}: the reply ${found.join('; ')}`);
        }
      } finally {
        for (const hd of handles.splice(0)) await client.request(FXP.CLOSE, enc.str(hd)).catch(() => undefined);
        await swapper.pause();
      }
      const after = snapshot(l);
      assert.equal(after === before, true, `the outside tree changed:\n${diff(before, after)}`);
    }), { numRuns: runs, interruptAfterTimeLimit: 120_000, markInterruptAsFailure: true, includeErrorInReport: true });
    return swapper.exchanges();
  });
  assert.equal(snapshot(l), before, 'the outside tree is as it was');
  return { requests, exchanges, statuses };
}

describe('kmx sftp serve confinement', { skip: process.getuid?.() !== 0 ? 'needs root (serve runs as root and as nobody)' : false }, () => {
  it('lsetstat with a size on a symlink pointing outside truncates nothing, and changes only the link', () => temporaryDirectory(async (dir) => {
    const l = layout(dir, 0);
    buildOutside(l);
    resetRoot(l);
    const victim = join(l.outer, 'canary', 'victim.txt');
    const secret = join(l.outer, 'canary', 'secret.txt');
    const before = snapshot(l);
    await withServe(l.root, [], async (s) => {
      // Absolute, relative, a chain, a link in a directory reached through a link, a dangling one.
      for (const path of ['/abs-file', '/rel-file', '/deep/rel-up', '/chain1', '/abs-dir/link-in-canary', '/dangling-abs', '/abs-secret']) {
        await assert.rejects(s.lsetstat(path, { size: 0 }), (err: Error & { code?: string }) => err.code !== undefined, path);
        await assert.rejects(s.lsetstat(path, { size: 0, mode: 0o777, uid: 0, gid: 0, atime: 5, mtime: 6 }), (err: Error & { code?: string }) => err.code !== undefined, `${path}, with everything else`);
      }
      // A symlink's own owner and times change; what it points to does not.
      await s.lsetstat('/abs-file', { uid: NOBODY, gid: NOBODY, atime: 7, mtime: 8 });
      await s.lsetstat('/deep/rel-up', { mode: 0o600, atime: 9, mtime: 10 });
    });
    assert.equal(fs.readFileSync(victim, 'utf8'), `${l.secrets[0]}\n`, 'the outside file is whole');
    assert.equal(fs.readFileSync(secret, 'utf8'), `${l.secrets[1]}\n`);
    assert.equal(snapshot(l), before, 'nothing outside changed');
    const link = fs.lstatSync(join(l.root, 'abs-file'));
    assert.deepEqual([link.uid, link.gid, link.mtimeMs], [NOBODY, NOBODY, 8000], 'the link itself took the owner and times');
    assert.equal(fs.lstatSync(join(l.root, 'deep', 'rel-up')).mtimeMs, 10_000);
  }));

  it('setstat, lsetstat and fsetstat still work inside the root (through inside links too)', () => temporaryDirectory(async (dir) => {
    const l = layout(dir, 0);
    buildOutside(l);
    resetRoot(l);
    const before = snapshot(l);
    await withServe(l.root, [], async (s) => {
      await s.setstat('/inside-link', { size: 6, mode: 0o640, atime: 11, mtime: 12 });
      await s.lsetstat('/sub/file', { size: 3 });
      const handle = await s.open('/sub/file', 0x2);
      await s.fsetstat(handle, { size: 1, uid: NOBODY, gid: NOBODY }, '/sub/file');
      await s.closeHandle(handle, '/sub/file');
      // Absolute links resolve inside the root: this truncates the decoy, never the outside file.
      await s.setstat('/abs-file', { size: 2 });
      await assert.rejects(s.setstat('/abs-secret', { size: 0 }), { code: 'ENOENT' });
      await assert.rejects(s.setstat('/sub', { size: 0 }), { code: 'EISDIR' });
      await assert.rejects(s.lsetstat('/loop1', { size: 0 }), { code: 'ELOOP' });
    });
    const inside = fs.statSync(join(l.root, 'inside.txt'));
    assert.deepEqual([fs.readFileSync(join(l.root, 'inside.txt'), 'utf8'), inside.mode & 0o777, inside.mtimeMs], ['inside', 0o640, 12_000]);
    const sub = fs.statSync(join(l.root, 'sub', 'file'));
    assert.deepEqual([sub.size, sub.uid], [1, NOBODY]);
    assert.equal(fs.readFileSync(join(l.root, l.outer, 'canary', 'victim.txt'), 'utf8'), 'de');
    assert.equal(snapshot(l), before, 'nothing outside changed');
  }));

  it('never shows the root\'s parent: ".." of the root is the root', () => temporaryDirectory(async (dir) => {
    const l = layout(dir, 0);
    buildOutside(l);
    resetRoot(l);
    const client = await RawSftp.start(l.root);
    try {
      for (const path of ['/', '/..', '/abs-dir/../..', '/deep/..']) {
        const open = await client.request(FXP.OPENDIR, enc.str(path));
        assert.ok(open.handle, `${path}: ${open.status?.message}`);
        const names = [];
        for (;;) {
          const reply = await client.request(FXP.READDIR, enc.str(open.handle));
          if (!reply.names) break;
          assert.deepEqual(leaks(l, reply), [], path);
          names.push(...reply.names);
        }
        await client.request(FXP.CLOSE, enc.str(open.handle));
        const dotdot = names.find((n) => n.filename === '..');
        assert.ok(dotdot, `${path} lists ..`);
        assert.equal(dotdot.attrs.uid, 0, `${path}: .. of the root is the root (not its parent, owned by ${CANARY_UID})`);
      }
      for (const path of ['/..', '..', '../..', '/abs-dir/../../..']) {
        for (const type of [FXP.STAT, FXP.LSTAT]) {
          const reply = await client.request(type, enc.str(path));
          assert.equal(reply.attrs?.uid, 0, `${path}`);
        }
      }
    } finally {
      assert.equal(await client.stop(), 0);
    }
  }));

  it('serves a hard link to an outside file (inside by inode) but never makes one from a path', () => temporaryDirectory(async (dir) => {
    const l = layout(dir, 0);
    buildOutside(l);
    resetRoot(l);
    const victim = join(l.outer, 'canary', 'victim.txt');
    const before = snapshot(l);
    await withServe(l.root, [], async (s) => {
      const handle = await s.open('/hard', 0x1);
      const buffer = Buffer.alloc(100);
      const n = await s.read(handle, buffer, 0, '/hard');
      await s.closeHandle(handle, '/hard');
      assert.equal(buffer.toString('utf8', 0, n), 'shared by inode\n', 'a hard link in the root is a file in the root');
      // hardlink@openssh.com links the symlink itself, never the file it points to.
      await s.link('/abs-file', '/linked-link');
      await s.link('/rel-file', '/linked-rel');
      await assert.rejects(s.link(`${l.outer}/canary/secret.txt`, '/stolen'), { code: 'ENOENT' });
      await s.link(`${l.outer}/canary/victim.txt`, '/decoy-link'); // an absolute path is inside the root: the decoy
    });
    for (const name of ['linked-link', 'linked-rel']) assert.ok(fs.lstatSync(join(l.root, name)).isSymbolicLink(), name);
    assert.equal(fs.statSync(join(l.root, 'decoy-link')).ino, fs.statSync(join(l.root, l.outer, 'canary', 'victim.txt')).ino);
    assert.equal(fs.statSync(victim).nlink, 1);
    assert.equal(snapshot(l), before, 'nothing outside changed');
  }));

  it(`${KMX_POSIX}: records of what is inside, times and mknod beneath the root, never a device node; long paths piece by piece`, () => temporaryDirectory(async (dir) => {
    const l = layout(dir, 0);
    buildOutside(l);
    resetRoot(l);
    const before = snapshot(l);
    const s = enc.str;
    const client = await RawSftp.start(l.root);
    const ok = (reply: Reply, what: string): void => assert.equal(reply.status?.code, STATUS_OK, `${what}: ${reply.status?.message}`);
    const record = (reply: Reply) => {
      const pair = reply.attrs?.extended?.find(([type]) => type === KMX_POSIX);
      return pair && decodeRecord(pair[1]);
    };
    try {
      assert.equal(record(await client.request(FXP.LSTAT, s('/inside.txt'))), undefined, 'no record before the client asks');
      ok(await client.extended(KMX_POSIX, s('enable'), enc.u32(1)), 'enable');
      const inside = record(await client.request(FXP.LSTAT, s('/inside.txt')));
      assert.equal(inside?.ino, fs.statSync(join(l.root, 'inside.txt'), { bigint: true }).ino);
      assert.equal(inside?.nlink, 1);
      // An open file unlinked: its record says no link is left.
      const open = await client.request(FXP.OPEN, s('/sub/file'), enc.u32(0x1), enc.attrs({}));
      ok(await client.request(FXP.REMOVE, s('/sub/file')), 'remove');
      assert.equal(record(await client.request(FXP.FSTAT, s(open.handle!)))?.nlink, 0);
      await client.request(FXP.CLOSE, s(open.handle!));
      const mknod = (path: string, mode: number, rdev = 0n): Promise<Reply> => client.extended(KMX_POSIX, s('mknod'), s(path), enc.u32(mode), enc.u64(rdev));
      ok(await mknod('/fifo', 0o010640), 'a FIFO');
      ok(await mknod('/sock', 0o140755), 'a socket');
      ok(await mknod(`/${'./'.repeat(2100)}deep-fifo`, 0o010600), 'a FIFO by a path longer than PATH_MAX');
      assert.ok(fs.lstatSync(join(l.root, 'fifo')).isFIFO() && fs.lstatSync(join(l.root, 'sock')).isSocket() && fs.lstatSync(join(l.root, 'deep-fifo')).isFIFO());
      for (const [path, mode] of [['/null', 0o020666], ['/disk', 0o060600], ['/abs-dir/null', 0o020666]] as const) {
        const refused = await mknod(path, mode, 0x103n);
        assert.match(refused.status?.message ?? '', /^EPERM/, `${path} is never made`);
      }
      assert.match((await mknod('/abs-file', 0o010644)).status?.message ?? '', /^EEXIST/, 'an existing symlink is not followed');
      assert.match((await mknod('/rel-dir/made', 0o010644)).status?.message ?? '', /^ENOENT/, 'a relative link out resolves inside the root');
      ok(await mknod('/abs-dir/made', 0o010644), 'an absolute link resolves inside the root (the decoy)');
      assert.ok(fs.lstatSync(join(l.root, l.outer, 'canary', 'made')).isFIFO());
      // Times with nanoseconds through a link (the decoy inside) and on the link itself.
      const times = enc.attrs({ atime: 1, mtime: 2, extended: [[KMX_POSIX, encodeTimes({ sec: 3, nsec: 4 }, { sec: -5, nsec: 6 })]] });
      ok(await client.request(FXP.SETSTAT, s('/abs-file'), times), 'setstat');
      ok(await client.extended('lsetstat@openssh.com', s('/rel-file'), times), 'lsetstat');
      assert.equal(fs.statSync(join(l.root, l.outer, 'canary', 'victim.txt'), { bigint: true }).mtimeNs, -5n * 1_000_000_000n + 6n);
      assert.equal(fs.lstatSync(join(l.root, 'rel-file'), { bigint: true }).atimeNs, 3_000_000_004n);
      assert.match((await client.request(FXP.SETSTAT, s('/inside.txt'), enc.attrs({ extended: [[KMX_POSIX, Buffer.alloc(5)]] }))).status?.message ?? '', /^EINVAL/);
      // A long path whose later piece climbs out of its directory is refused, not followed.
      assert.match((await client.request(FXP.STAT, s(`/sub/${'./'.repeat(2100)}../abs-file`))).status?.message ?? '', /^ENAMETOOLONG/);
      assert.match((await client.request(FXP.STAT, s(`/${'./'.repeat(2100)}abs-file`))).status?.message ?? '', /^ENAMETOOLONG/, 'an absolute link in a later piece');
      assert.equal((await client.request(FXP.LSTAT, s(`/${'./'.repeat(2100)}inside.txt`))).attrs?.size, 12n);
    } finally {
      assert.equal(await client.stop(), 0);
    }
    assert.equal(snapshot(l), before, 'nothing outside changed');
  }));

  it('holds while directories and files inside the root are swapped for symlinks out, request after request', () => temporaryDirectory(async (dir) => {
    const l = layout(dir, 0);
    buildOutside(l);
    resetRoot(l);
    const before = snapshot(l);
    const s = enc.str;
    const times = enc.attrs({ uid: NOBODY, gid: NOBODY, mode: 0o777, atime: 1, mtime: 2 });
    const { count, exchanges } = await racing(l.root, l.swaps, {}, async (client, swapper) => {
      const requests: Array<() => Promise<Reply>> = [];
      for (const base of ['/swap', '/deep/swap2', '/swapf', '/swap-out', '/deep/swap2-out', '/swapf-out']) {
        for (const path of [base, `${base}/victim.txt`, `${base}/dir/victim.txt`]) {
          requests.push(
            () => client.extended('lsetstat@openssh.com', s(path), enc.attrs({ size: 0n })),
            () => client.extended('lsetstat@openssh.com', s(path), times),
            () => client.request(FXP.SETSTAT, s(path), enc.attrs({ size: 1n, uid: NOBODY, gid: NOBODY, mode: 0o777, atime: 1, mtime: 2 })),
            () => client.request(FXP.OPEN, s(path), enc.u32(0x2 | 0x10), enc.attrs({})),
            () => client.request(FXP.OPEN, s(path), enc.u32(0x1), enc.attrs({})),
            () => client.request(FXP.OPENDIR, s(path)),
            () => client.request(FXP.REALPATH, s(path)),
            () => client.request(FXP.STAT, s(path)),
            () => client.request(FXP.READLINK, s(path)),
            () => client.extended('statvfs@openssh.com', s(path)),
          );
        }
      }
      let sent = 0;
      for (let round = 0; round < 8; round++) {
        for (const request of requests) {
          const reply = await request();
          sent++;
          assert.deepEqual(leaks(l, reply), []);
          if (!reply.handle) continue;
          // Read what was opened (a file or a listing), write to it, cut it, let it go.
          for (let i = 0; i < 4; i++) {
            const more = await client.request(FXP.READ, s(reply.handle), enc.u64(0n), enc.u32(4096));
            const listed: Reply = more.type === FXP.STATUS && more.status?.message.startsWith('EISDIR') ? await client.request(FXP.READDIR, s(reply.handle)) : more;
            assert.deepEqual(leaks(l, listed), []);
            if (listed.type === FXP.STATUS) break;
          }
          await client.request(FXP.WRITE, s(reply.handle), enc.u64(0n), s('written by the client\n'));
          await client.request(FXP.FSETSTAT, s(reply.handle), enc.attrs({ size: 0n, mode: 0o777, uid: NOBODY, gid: NOBODY, atime: 1, mtime: 2 }));
          await client.request(FXP.CLOSE, s(reply.handle));
        }
      }
      return { count: sent, exchanges: swapper.exchanges() };
    });
    assert.ok(exchanges > 0, 'the swap worker ran');
    assert.ok(count > 1000);
    assert.equal(snapshot(l), before, 'nothing outside changed');
  }));

  it(`survives random request sequences as root (${RUNS_AS_ROOT} runs) and as nobody (${RUNS_AS_NOBODY}), racing a directory/symlink swap`, () => temporaryDirectory(async (dir) => {
    const started = Date.now();
    fs.mkdirSync(join(dir, 'as-root'));
    fs.mkdirSync(join(dir, 'as-nobody'));
    fs.chmodSync(dir, 0o711);
    const asRoot = await fuzz(join(dir, 'as-root'), 0, RUNS_AS_ROOT);
    const asNobody = await fuzz(join(dir, 'as-nobody'), NOBODY, RUNS_AS_NOBODY);
    const ok = new Set([...asRoot.statuses.keys(), ...asNobody.statuses.keys()].filter((key) => key.endsWith(':ok')).map((key) => key.split(':')[0])).size;
    process.stderr.write(`# confinement fuzz: ${asRoot.requests} requests as root, ${asNobody.requests} as nobody; ${asRoot.exchanges + asNobody.exchanges} swaps; ${ok} kinds of request succeeded at least once; ${Date.now() - started} ms\n`);
    if (process.env.KMX_FUZZ_VERBOSE) {
      for (const [who, result] of [['root', asRoot], ['nobody', asNobody]] as const) {
        process.stderr.write(`# as ${who}: ${[...result.statuses].sort().map(([key, n]) => `${key}=${n}`).join(' ')}\n`);
      }
    }
    assert.ok(asRoot.exchanges > 0 && asNobody.exchanges > 0, 'the swap worker ran');
  }));
});
