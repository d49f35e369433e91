// The confinement suite's requests: every SFTP v3 request and extension, as fast-check
// arbitraries over paths and symlink texts full of escapes, and how each is sent.
import fc from 'fast-check';
import { KMX_POSIX, UTIME_NOW, UTIME_OMIT, encodeTimes } from '../src/lib/protocol/kmx-posix.js';
import { CANARY_GID, CANARY_UID, NOBODY, type Layout } from './confinement-tree.js';
import { FXP, STATUS_OK, enc, type RawAttrs, type RawSftp, type Reply } from './raw-sftp.js';

export type Op =
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

export function opArbitrary(l: Layout): fc.Arbitrary<Op> {
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
export async function send(c: RawSftp, op: Op, handles: Buffer[]): Promise<Reply> {
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
