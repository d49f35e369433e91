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
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { kmxBin, temporaryDirectory } from '@kmx/core/testing';
import { sftpOverStream } from '../src/lib/protocol/adapter.js';
import { KMX_POSIX, UTIME_NOW, UTIME_OMIT, decodeRecord, encodeTimes } from '../src/lib/protocol/kmx-posix.js';
import { SftpSession } from '../src/lib/protocol/session.js';
import { FXP, RawSftp, enc, type RawAttrs, type RawServeOptions, type Reply } from './raw-sftp.js';
import type { SwapWorkerData } from './swap-worker.js';

/** Owner of everything outside the root: no reply may ever show it. */
const CANARY_UID = 42001;
const CANARY_GID = 42002;
/** Owner of the outside file hard-linked into the root (inside by inode: served, see README). */
const LINKED_UID = 42003;
const CANARY_ATIME = 1_111_111_111;
const CANARY_MTIME = 1_222_222_222;
const NOBODY = 65534;
const STATUS_OK = 0;

const RUNS_AS_ROOT = Number(process.env.KMX_FUZZ_RUNS ?? 200);
const RUNS_AS_NOBODY = Math.max(1, Math.round(RUNS_AS_ROOT / 3));

// ---------------------------------------------------------------------------------------------
// The tree: base/outer/mid/root is served; everything else under base is outside.
//
//   base/                       canary-owned, 0711 (nobody may pass, not list)
//     outer/                    ditto
//       canary/                 0777: victim.txt 0666, secret.txt 0600, hidden-<t>, dir/…, link-in-canary
//       mid/                    ditto
//         canary-near/          0777: victim.txt 0666, hidden-<t>
//         linked/shared.txt     hard-linked into the root as /hard (served; not a canary)
//         root/                 the root, rebuilt before every sequence
//
// The root is three levels below base, no symlink text (the tree's or the client's) holds
// more than three '..', and absolute ones all lie under base: even a server that followed
// links on the host could not reach beyond base. That keeps this suite harmless to the
// machine when run against a broken server (as it was, to see it fail).
// ---------------------------------------------------------------------------------------------

interface Layout {
  base: string;
  outer: string;
  mid: string;
  root: string;
  linked: string;
  /** Strings that only the outside tree holds (file contents, names no link mentions). */
  secrets: string[];
  /** Absolute paths of [directory, symlink out] pairs the swap worker exchanges. */
  swaps: Array<[string, string]>;
  /** Owner of the root's contents (the serving user). */
  owner: number;
  /** Inode numbers of everything outside the root (but the hard-linked file): no STAT RECORD may carry one. */
  inodes: Set<bigint>;
}

function layout(base: string, owner: number): Layout {
  const outer = join(base, 'outer');
  const mid = join(outer, 'mid');
  const root = join(mid, 'root');
  const token = (): string => randomBytes(12).toString('hex');
  return {
    base, outer, mid, root, linked: join(mid, 'linked'), owner, inodes: new Set(),
    secrets: [`CANARYDATA${token()}`, `CANARYDATA${token()}`, `CANARYDATA${token()}`, `CANARYDATA${token()}`, `hidden${token()}`, `hidden${token()}`, `hidden${token()}`],
    swaps: [[join(root, 'swap'), join(root, 'swap-out')], [join(root, 'deep', 'swap2'), join(root, 'deep', 'swap2-out')], [join(root, 'swapf'), join(root, 'swapf-out')]],
  };
}

function canaryFile(path: string, content: string, mode: number): void {
  fs.writeFileSync(path, content);
  fs.chmodSync(path, mode);
}

/** (Re)builds everything outside the root: the canaries, the hard-linked file, the owners and times. */
function buildOutside(l: Layout): void {
  const [c0, c1, c2, c3, h0, h1, h2] = l.secrets as [string, string, string, string, string, string, string];
  const canary = join(l.outer, 'canary');
  const near = join(l.mid, 'canary-near');
  for (const dir of [canary, near, l.linked]) fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(l.root, { recursive: true });
  fs.mkdirSync(join(canary, 'dir', h1), { recursive: true });
  fs.mkdirSync(near);
  fs.mkdirSync(l.linked);
  canaryFile(join(canary, 'victim.txt'), `${c0}\n`, 0o666);
  canaryFile(join(canary, 'secret.txt'), `${c1}\n`, 0o600);
  canaryFile(join(canary, h0), `${c2}\n`, 0o644);
  canaryFile(join(canary, 'dir', 'victim.txt'), `${c3}\n`, 0o666);
  canaryFile(join(canary, 'dir', h1, 'file'), `${c0}\n`, 0o666);
  canaryFile(join(near, 'victim.txt'), `${c2}\n`, 0o666);
  canaryFile(join(near, h2), `${c3}\n`, 0o666);
  fs.symlinkSync('victim.txt', join(canary, 'link-in-canary'));
  fs.writeFileSync(join(l.linked, 'shared.txt'), 'shared by inode\n');
  fs.chmodSync(join(canary, 'dir'), 0o777);
  fs.chmodSync(join(canary, 'dir', h1), 0o777);
  fs.chmodSync(canary, 0o777);
  fs.chmodSync(near, 0o777);
  // Owners and times, deepest first (a change inside a directory moves its times).
  const walk = (path: string): void => {
    const st = fs.lstatSync(path);
    if (st.isDirectory()) for (const name of fs.readdirSync(path)) walk(join(path, name));
    fs.lchownSync(path, CANARY_UID, CANARY_GID);
    fs.lutimesSync(path, CANARY_ATIME, CANARY_MTIME);
  };
  walk(canary);
  walk(near);
  fs.lchownSync(join(l.linked, 'shared.txt'), LINKED_UID, LINKED_UID);
  fs.chmodSync(join(l.linked, 'shared.txt'), 0o666);
  for (const dir of [l.linked, l.mid, l.outer, l.base]) {
    fs.chmodSync(dir, 0o711);
    fs.chownSync(dir, CANARY_UID, CANARY_GID);
    fs.utimesSync(dir, CANARY_ATIME, CANARY_MTIME);
  }
  l.inodes.clear();
  const shared = fs.statSync(join(l.linked, 'shared.txt'), { bigint: true }).ino;
  const note = (path: string): void => {
    if (path === l.root) return;
    const st = fs.lstatSync(path, { bigint: true });
    if (st.ino !== shared) l.inodes.add(st.ino);
    if (st.isDirectory()) for (const name of fs.readdirSync(path)) note(join(path, name));
  };
  note(l.base);
}

/** Empties the root (its fd stays the server's) and fills it with inside files and escaping links. */
function resetRoot(l: Layout): void {
  const { root, outer } = l;
  for (const name of fs.readdirSync(root)) fs.rmSync(join(root, name), { recursive: true, force: true });
  fs.chmodSync(root, 0o755);
  fs.writeFileSync(join(root, 'inside.txt'), 'inside data\n');
  fs.mkdirSync(join(root, 'sub'));
  fs.writeFileSync(join(root, 'sub', 'file'), 'sub file\n');
  fs.mkdirSync(join(root, 'empty'));
  fs.mkdirSync(join(root, 'deep'));
  // A decoy at the absolute outside path, inside the root: what absolute links really reach.
  fs.mkdirSync(join(root, outer, 'canary', 'dir'), { recursive: true });
  fs.writeFileSync(join(root, outer, 'canary', 'victim.txt'), 'decoy\n');
  const links: Array<[string, string]> = [
    ['abs-file', `${outer}/canary/victim.txt`],
    ['abs-dir', `${outer}/canary`],
    ['abs-secret', `${outer}/canary/secret.txt`],
    ['rel-file', '../canary-near/victim.txt'],
    ['rel-dir', '../../canary'],
    ['deep/rel-up', '../../../canary/secret.txt'],
    ['deep/rel-dir', '../../../canary'],
    ['deep/near', '../../canary-near/victim.txt'],
    ['dangling-abs', `${outer}/canary/created-abs`],
    ['dangling-rel', '../canary-near/created-rel'],
    ['chain1', 'chain2'],
    ['chain2', 'deep/chain3'],
    ['deep/chain3', '../../../canary/victim.txt'],
    ['chain-dir', 'abs-dir'],
    ['loop1', 'loop2'],
    ['loop2', 'loop1'],
    ['inside-link', 'inside.txt'],
    ['swap-out', `${outer}/canary`],
    ['deep/swap2-out', '../../../canary/dir'],
    ['swapf-out', `${outer}/canary/victim.txt`],
  ];
  for (const [name, target] of links) fs.symlinkSync(target, join(root, name));
  fs.mkdirSync(join(root, 'swap', 'dir'), { recursive: true });
  fs.writeFileSync(join(root, 'swap', 'victim.txt'), 'swap decoy\n');
  fs.mkdirSync(join(root, 'deep', 'swap2'));
  fs.writeFileSync(join(root, 'deep', 'swap2', 'victim.txt'), 'swap2 decoy\n');
  fs.writeFileSync(join(root, 'swapf'), 'swapped file decoy\n');
  fs.linkSync(join(l.linked, 'shared.txt'), join(root, 'hard'));
  if (l.owner !== 0) {
    const own = (path: string): void => {
      const st = fs.lstatSync(path);
      if (st.isDirectory()) for (const name of fs.readdirSync(path)) own(join(path, name));
      if (st.ino !== fs.statSync(join(l.linked, 'shared.txt')).ino) fs.lchownSync(path, l.owner, l.owner);
    };
    own(root);
  }
}

/** Everything outside the root as text: names, types, modes, owners, sizes, m/ctimes, link counts, contents. */
function snapshot(l: Layout): string {
  const lines: string[] = [];
  const shared = join(l.linked, 'shared.txt');
  const walk = (path: string): void => {
    const st = fs.lstatSync(path, { bigint: true });
    const rel = relative(l.base, path) || '.';
    if (path === l.root) {
      lines.push(`${rel} (the root: served)`);
      return;
    }
    if (path === shared) {
      lines.push(`${rel} (hard-linked into the root: served)`);
      return;
    }
    let body = '';
    if (st.isFile()) body = fs.readFileSync(path).toString('base64');
    else if (st.isSymbolicLink()) body = fs.readlinkSync(path);
    lines.push(`${rel} mode=${st.mode.toString(8)} owner=${st.uid}:${st.gid} size=${st.size} mtime=${st.mtimeNs} ctime=${st.ctimeNs} nlink=${st.nlink} ${body}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(path).sort()) walk(join(path, name));
  };
  walk(l.base);
  return lines.join('\n');
}

function diff(before: string, after: string): string {
  const a = new Set(before.split('\n'));
  const b = new Set(after.split('\n'));
  return [...[...a].filter((x) => !b.has(x)).map((x) => `- ${x}`), ...[...b].filter((x) => !a.has(x)).map((x) => `+ ${x}`)].join('\n');
}

/** What no reply may contain or show. Returns the problems found in one reply. */
function leaks(l: Layout, reply: Reply): string[] {
  const found: string[] = [];
  for (const secret of l.secrets) if (reply.raw.includes(secret)) found.push(`carries outside ${secret.startsWith('hidden') ? 'name' : 'content'} ${secret}`);
  const attrs = [...(reply.attrs ? [reply.attrs] : []), ...(reply.names ?? []).map((n) => n.attrs)];
  for (const a of attrs) if (a.uid === CANARY_UID || a.gid === CANARY_GID) found.push(`shows attributes of an outside object (owner ${a.uid}:${a.gid})`);
  for (const a of attrs) {
    const pair = a.extended?.find(([type]) => type === KMX_POSIX);
    const record = pair && decodeRecord(pair[1]);
    if (pair && !record) found.push('carries a malformed STAT RECORD');
    if (record && l.inodes.has(record.ino)) found.push(`carries the STAT RECORD of an outside object (inode ${record.ino})`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

type Op =
  | { k: 'open'; path: string; pflags: number; mode: number | undefined }
  | { k: 'close' | 'fstat' | 'readdir' | 'fsync' | 'fstatvfs'; h: number }
  | { k: 'read'; h: number; offset: bigint; len: number }
  | { k: 'write'; h: number; offset: bigint; data: Buffer }
  | { k: 'lstat' | 'stat' | 'opendir' | 'remove' | 'rmdir' | 'realpath' | 'readlink' | 'statvfs' | 'expand-path'; path: string }
  | { k: 'setstat' | 'lsetstat'; path: string; attrs: RawAttrs }
  | { k: 'fsetstat'; h: number; attrs: RawAttrs }
  | { k: 'mkdir'; path: string; mode: number }
  | { k: 'rename' | 'posix-rename' | 'hardlink'; from: string; to: string }
  | { k: 'symlink'; link: string; target: string }
  | { k: 'copy-data'; h: number; offset: bigint; len: bigint; h2: number; offset2: bigint }
  | { k: 'kmx-enable'; version: number }
  | { k: 'kmx-mknod'; path: string; mode: number; rdev: bigint }
  | { k: 'limits' | 'home-directory' | 'users-groups' | 'unknown' | 'kmx-unknown' };

function pathPool(l: Layout): string[] {
  const { outer, mid, base } = l;
  return [
    '/', '', '.', '..', '/..', '../..', '/../../..', '//', '/./',
    '/inside.txt', 'inside.txt', '/inside-link', '/sub', '/sub/', '/sub/file', '/sub/new.txt', '/empty', '/new', '/new/child', '/deep', '/deep/new',
    '/abs-file', '/abs-file/', '//abs-file', '/abs-dir', '/abs-dir/', '/abs-dir/victim.txt', '/abs-dir/secret.txt', '/abs-dir/dir', '/abs-dir/dir/victim.txt',
    '/abs-dir/link-in-canary', '/abs-dir/new.txt', '/abs-secret', '/./abs-dir/./victim.txt', '/abs-dir/..', '/abs-dir/../..',
    '/rel-file', '/rel-dir', '/rel-dir/', '/rel-dir/victim.txt', '/rel-dir/dir/victim.txt', '/rel-dir/new.txt',
    '/deep/rel-up', '/deep/rel-dir', '/deep/rel-dir/victim.txt', '/deep/rel-dir/dir', '/deep/near',
    '/dangling-abs', '/dangling-rel', '/chain1', '/chain2', '/deep/chain3', '/chain-dir', '/chain-dir/victim.txt', '/loop1', '/loop1/x',
    '/hard',
    '/swap', '/swap/', '/swap/victim.txt', '/swap/dir', '/swap/dir/victim.txt', '/swap/new.txt', '/swap-out', '/swap-out/victim.txt',
    '/swapf', '/swapf-out', '/deep/swap2', '/deep/swap2/victim.txt', '/deep/swap2/new.txt', '/deep/swap2-out', '/deep/swap2-out/victim.txt', '/swap/../../canary/victim.txt',
    '../canary-near/victim.txt', '/../canary/victim.txt', '../../canary/secret.txt', 'sub/../../canary/victim.txt', '/sub/../../../canary/dir',
    '/deep/../../../canary/dir/victim.txt',
    `${outer}/canary/victim.txt`, `${outer}/canary`, `${outer}/canary/dir`, `${mid}/canary-near/victim.txt`, base, `${mid}/linked/shared.txt`,
    '/etc/passwd', '/etc/shadow', '/proc/self/root', '/proc/self/cwd/x', '/proc/self/fd/3',
    `/${'n'.repeat(300)}`, `/deep/${'d/'.repeat(2100)}x`, `/abs-dir/${'../'.repeat(40)}canary/victim.txt`, `/${'sub/../'.repeat(500)}abs-file`,
    '/abs-file\0/x', '/abs-dir\0',
    // Longer than the kernel takes in one string: resolved piece by piece (ConfinedRoot.openLong).
    ...[
      'inside.txt', 'sub/file', 'abs-file', 'rel-dir/victim.txt', 'chain1', 'swap/victim.txt', 'swap/dir/victim.txt', 'swapf', 'new-long', 'sub/../../abs-dir/victim.txt',
    ].map((rest) => `/${'./'.repeat(2100)}${rest}`),
    `/sub/${'./'.repeat(2100)}../abs-file`, `/deep/${'./'.repeat(2100)}rel-up`, `/swap/${'./'.repeat(2100)}victim.txt`, `/deep/swap2/${'./'.repeat(2100)}../../rel-dir`,
  ];
}

/** Symlink texts a client may create: never more than three '..', never a host path beyond base. */
function targetPool(l: Layout): string[] {
  return [
    `${l.outer}/canary/victim.txt`, `${l.outer}/canary`, `${l.outer}/canary/dir/victim.txt`, `${l.mid}/canary-near/victim.txt`,
    '../canary-near/victim.txt', '../../canary/secret.txt', '../../../canary/dir', '../../../canary/victim.txt', '../..',
    'inside.txt', `${l.root}/inside.txt`, '.', '..', 'loop1', 'abs-dir', 'swap-out/victim.txt', 'missing',
  ];
}

function opArbitrary(l: Layout): fc.Arbitrary<Op> {
  const path = fc.constantFrom(...pathPool(l));
  const h = fc.nat({ max: 7 });
  const O = { READ: 0x1, WRITE: 0x2, APPEND: 0x4, CREAT: 0x8, TRUNC: 0x10, EXCL: 0x20 };
  const pflags = fc.constantFrom(O.READ, O.WRITE, O.READ | O.WRITE, O.WRITE | O.CREAT, O.WRITE | O.CREAT | O.TRUNC, O.WRITE | O.CREAT | O.EXCL, O.READ | O.WRITE | O.APPEND, O.WRITE | O.TRUNC, O.READ | O.CREAT);
  const attrs: fc.Arbitrary<RawAttrs> = fc.record({
    size: fc.option(fc.constantFrom(0n, 1n, 5n, 4096n, 1n << 20n), { nil: undefined }),
    owner: fc.option(fc.constantFrom(0, NOBODY, 1000), { nil: undefined }),
    mode: fc.option(fc.constantFrom(0o777, 0o4755, 0o600, 0, 0o1777, 0o644), { nil: undefined }),
    times: fc.option(fc.constantFrom([1, 2], [1_500_000_000, 1_500_000_001]), { nil: undefined }),
    // kmx's times pair: nanoseconds, 64-bit seconds, UTIME_NOW/OMIT, nonsense, a short pair.
    nanos: fc.option(fc.constantFrom(
      encodeTimes({ sec: 5, nsec: 6 }, { sec: -7, nsec: 999_999_999 }),
      encodeTimes({ sec: 0, nsec: UTIME_NOW }, { sec: 0, nsec: UTIME_OMIT }),
      encodeTimes({ sec: 8_000_000_000, nsec: 0 }, { sec: 1, nsec: 2_000_000_000 }),
      Buffer.alloc(7),
    ), { nil: undefined }),
  }).map(({ size, owner, mode, times, nanos }) => ({
    ...(size === undefined ? {} : { size }),
    ...(owner === undefined ? {} : { uid: owner, gid: owner }),
    ...(mode === undefined ? {} : { mode }),
    ...(times === undefined ? {} : { atime: times[0], mtime: times[1] }),
    ...(nanos === undefined ? {} : { extended: [[KMX_POSIX, nanos] as [string, Buffer]] }),
  }));
  const offset = fc.constantFrom(0n, 1n, 100n, 1n << 32n);
  // Written bytes are the client's own: short, random, never one of the secrets.
  const data = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
  const pathOp = (k: 'lstat' | 'stat' | 'opendir' | 'remove' | 'rmdir' | 'realpath' | 'readlink' | 'statvfs' | 'expand-path'): fc.Arbitrary<Op> => path.map((p) => ({ k, path: p }));
  const handleOp = (k: 'close' | 'fstat' | 'readdir' | 'fsync' | 'fstatvfs'): fc.Arbitrary<Op> => h.map((i) => ({ k, h: i }));
  const twoPaths = (k: 'rename' | 'posix-rename' | 'hardlink'): fc.Arbitrary<Op> => fc.tuple(path, path).map(([from, to]) => ({ k, from, to }));
  return fc.oneof(
    { arbitrary: fc.record({ k: fc.constant('open' as const), path, pflags, mode: fc.option(fc.constantFrom(0o644, 0o4777, 0o600), { nil: undefined }) }), weight: 4 },
    handleOp('close'), handleOp('fstat'), { arbitrary: handleOp('readdir'), weight: 3 }, handleOp('fsync'), handleOp('fstatvfs'),
    { arbitrary: fc.record({ k: fc.constant('read' as const), h, offset, len: fc.constantFrom(1, 64, 4096, 300_000) }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('write' as const), h, offset, data }), weight: 2 },
    pathOp('lstat'), pathOp('stat'), { arbitrary: pathOp('opendir'), weight: 3 }, pathOp('remove'), pathOp('rmdir'), pathOp('realpath'), pathOp('readlink'), pathOp('statvfs'), pathOp('expand-path'),
    { arbitrary: fc.record({ k: fc.constant('setstat' as const), path, attrs }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('lsetstat' as const), path, attrs }), weight: 4 },
    { arbitrary: fc.record({ k: fc.constant('fsetstat' as const), h, attrs }), weight: 2 },
    fc.record({ k: fc.constant('mkdir' as const), path, mode: fc.constantFrom(0o755, 0o777) }),
    twoPaths('rename'), twoPaths('posix-rename'), twoPaths('hardlink'),
    { arbitrary: fc.record({ k: fc.constant('symlink' as const), link: path, target: fc.constantFrom(...targetPool(l)) }), weight: 2 },
    fc.record({ k: fc.constant('copy-data' as const), h, offset, len: fc.constantFrom(0n, 10n, 1n << 20n), h2: h, offset2: offset }),
    fc.constantFrom<Op>({ k: 'limits' }, { k: 'home-directory' }, { k: 'users-groups' }, { k: 'unknown' }, { k: 'kmx-unknown' }),
    fc.record({ k: fc.constant('kmx-enable' as const), version: fc.constantFrom(1, 1, 1, 0, 2) }),
    // FIFOs, sockets, regular files; device nodes (always refused), a directory, a link, no type.
    { arbitrary: fc.record({ k: fc.constant('kmx-mknod' as const), path, mode: fc.constantFrom(0o010644, 0o140755, 0o104777, 0o020666, 0o060600, 0o040755, 0o120777, 0o644), rdev: fc.constantFrom(0n, 0x103n) }), weight: 3 },
  );
}

/** Sends one Op; handles the server gave out are kept in `handles` (index by h modulo their count). */
async function send(c: RawSftp, op: Op, handles: Buffer[]): Promise<Reply> {
  const handle = (i: number): Buffer => (handles.length === 0 ? Buffer.from([0, 0, 0, 99]) : handles[i % handles.length]!);
  const s = enc.str;
  switch (op.k) {
    case 'open': return c.request(FXP.OPEN, s(op.path), enc.u32(op.pflags), enc.attrs(op.mode === undefined ? {} : { mode: op.mode }));
    case 'close': {
      const hd = handle(op.h);
      const reply = await c.request(FXP.CLOSE, s(hd));
      if (reply.status?.code === STATUS_OK) handles.splice(handles.indexOf(hd), 1);
      return reply;
    }
    case 'read': return c.request(FXP.READ, s(handle(op.h)), enc.u64(op.offset), enc.u32(op.len));
    case 'write': return c.request(FXP.WRITE, s(handle(op.h)), enc.u64(op.offset), s(op.data));
    case 'fstat': return c.request(FXP.FSTAT, s(handle(op.h)));
    case 'readdir': return c.request(FXP.READDIR, s(handle(op.h)));
    case 'fsync': return c.extended('fsync@openssh.com', s(handle(op.h)));
    case 'fstatvfs': return c.extended('fstatvfs@openssh.com', s(handle(op.h)));
    case 'lstat': return c.request(FXP.LSTAT, s(op.path));
    case 'stat': return c.request(FXP.STAT, s(op.path));
    case 'opendir': return c.request(FXP.OPENDIR, s(op.path));
    case 'remove': return c.request(FXP.REMOVE, s(op.path));
    case 'rmdir': return c.request(FXP.RMDIR, s(op.path));
    case 'realpath': return c.request(FXP.REALPATH, s(op.path));
    case 'readlink': return c.request(FXP.READLINK, s(op.path));
    case 'statvfs': return c.extended('statvfs@openssh.com', s(op.path));
    case 'expand-path': return c.extended('expand-path@openssh.com', s(op.path));
    case 'setstat': return c.request(FXP.SETSTAT, s(op.path), enc.attrs(op.attrs));
    case 'lsetstat': return c.extended('lsetstat@openssh.com', s(op.path), enc.attrs(op.attrs));
    case 'fsetstat': return c.request(FXP.FSETSTAT, s(handle(op.h)), enc.attrs(op.attrs));
    case 'mkdir': return c.request(FXP.MKDIR, s(op.path), enc.attrs({ mode: op.mode }));
    case 'rename': return c.request(FXP.RENAME, s(op.from), s(op.to));
    case 'posix-rename': return c.extended('posix-rename@openssh.com', s(op.from), s(op.to));
    case 'hardlink': return c.extended('hardlink@openssh.com', s(op.from), s(op.to));
    // OpenSSH's order for SYMLINK (and so ssh2's, for an OpenSSH peer): link path first, then target.
    case 'symlink': return c.request(FXP.SYMLINK, s(op.link), s(op.target));
    case 'copy-data': return c.extended('copy-data', s(handle(op.h)), enc.u64(op.offset), enc.u64(op.len), s(handle(op.h2)), enc.u64(op.offset2));
    case 'limits': return c.extended('limits@openssh.com');
    case 'home-directory': return c.extended('home-directory', s('root'));
    case 'users-groups': return c.extended('users-groups-by-id@openssh.com', s(Buffer.concat([enc.u32(0), enc.u32(CANARY_UID)])), s(Buffer.concat([enc.u32(0), enc.u32(CANARY_GID)])));
    case 'unknown': return c.extended('nonexistent@kmx', s('/abs-file'));
    case 'kmx-enable': return c.extended(KMX_POSIX, s('enable'), enc.u32(op.version));
    case 'kmx-mknod': return c.extended(KMX_POSIX, s('mknod'), s(op.path), enc.u32(op.mode), enc.u64(op.rdev));
    case 'kmx-unknown': return c.extended(KMX_POSIX, s('frobnicate'), s('/abs-file'));
  }
}

interface SwapWorker {
  pause(): Promise<void>;
  resume(): void;
  exchanges(): number;
  stop(): Promise<void>;
}

function startSwapWorker(pairs: Array<[string, string]>): SwapWorker {
  const ctl = new Int32Array(new SharedArrayBuffer(12));
  const data: SwapWorkerData = { ctl: ctl.buffer as SharedArrayBuffer, pairs };
  const worker = new Worker(new URL('./swap-worker.js', import.meta.url), { workerData: data });
  let failure: Error | undefined;
  worker.on('error', (err) => (failure = err));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async pause() {
      Atomics.store(ctl, 0, 1);
      while (Atomics.load(ctl, 1) !== 1) {
        if (failure) throw failure;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    },
    resume() {
      Atomics.store(ctl, 1, 0);
      Atomics.store(ctl, 0, 0);
      Atomics.notify(ctl, 0);
    },
    exchanges: () => Atomics.load(ctl, 2),
    async stop() {
      Atomics.store(ctl, 0, 2);
      Atomics.notify(ctl, 0);
      const timer = setTimeout(() => void worker.terminate(), 2_000);
      await exited;
      clearTimeout(timer);
      if (failure) throw failure;
    },
  };
}

/**
 * Runs `body` with a raw client of `kmx sftp serve --root root` and the swap worker racing it.
 * Both are stopped whatever happens (the server by pid if it does not end with its input); a
 * server that did not end cleanly fails the test, unless `body` failed first.
 */
async function racing<T>(root: string, pairs: Array<[string, string]>, options: RawServeOptions, body: (client: RawSftp, swapper: SwapWorker) => Promise<T>): Promise<T> {
  const client = await RawSftp.start(root, options);
  let swapper: SwapWorker | undefined;
  let result: T;
  try {
    swapper = startSwapWorker(pairs);
    result = await body(client, swapper);
  } catch (err) {
    await swapper?.stop().catch(() => undefined);
    await client.stop().catch(() => undefined);
    throw err;
  }
  await swapper.stop();
  assert.equal(await client.stop(), 0, `serve ended cleanly; stderr: ${client.stderr}`);
  return result;
}

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

/** A session (ssh2's client, as in serve.test.ts) with `kmx sftp serve --root root`, as root. */
async function withServe<T>(root: string, body: (s: SftpSession) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [kmxBin(), 'sftp', 'serve', '--root', root], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const { sftp } = sftpOverStream(child.stdout, child.stdin);
    await new Promise<void>((resolve) => sftp.once('ready', () => resolve()));
    return await body(new SftpSession(sftp, () => child.stdin.end()));
  } finally {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, 'serve ends cleanly when its input ends');
  }
}

describe('kmx sftp serve confinement', { skip: process.getuid?.() !== 0 ? 'needs root (serve runs as root and as nobody)' : false }, () => {
  it('lsetstat with a size on a symlink pointing outside truncates nothing, and changes only the link', () => temporaryDirectory(async (dir) => {
    const l = layout(dir, 0);
    buildOutside(l);
    resetRoot(l);
    const victim = join(l.outer, 'canary', 'victim.txt');
    const secret = join(l.outer, 'canary', 'secret.txt');
    const before = snapshot(l);
    await withServe(l.root, async (s) => {
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
    await withServe(l.root, async (s) => {
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
    await withServe(l.root, async (s) => {
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
