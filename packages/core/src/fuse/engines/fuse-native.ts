import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { KmxError, SysError } from '../../errors/index.js';
import { UTIME_NOW, UTIME_OMIT } from '../../libc/constants.js';
import { runOperation, type EngineMountRequest, type EngineSession, type FuseEngine } from '../engine.js';
import type { FuseOptions } from '../options.js';
import type { Attr, Caller, FileSystem, MaybePromise, OpenReply, StatFs, TimeUpdate } from '../types.js';

/**
 * fuse-native 2.2.6 (libfuse 2.9, high-level path API), driven through its native binding.
 * kmx patches the binding's C (patches/fuse-native+2.2.6.patch, applied and rebuilt by
 * `npm ci`): utimens passes both times with nanoseconds and UTIME_NOW/UTIME_OMIT, stat times
 * carry nanoseconds, every request carries the caller's uid/gid/pid, opens can set
 * direct_io/keep_cache, a failed fuse_new no longer leaves a stale mount, and JS learns when
 * the session ends. Its JS wrapper is not used: its option handling is what the defects were.
 */

const PATCH_LEVEL = 3;
const MAX_WRITE = 128 * 1024; // libfuse 2.9's ceiling for a write request

type NativeHandler = (l: Buffer, op: number, ...args: never[]) => void;
type Signal = (l: Buffer, res: number, ...rest: unknown[]) => void;

interface Binding {
  kmx_patch_level?: number;
  sizeof_fuse_thread_t: number;
  offsetof_fuse_thread_locals_t_ctx_uid: number;
  offsetof_fuse_thread_locals_t_ctx_gid: number;
  offsetof_fuse_thread_locals_t_ctx_pid: number;
  offsetof_fuse_thread_locals_t_ctx_umask: number;
  fuse_native_mount(mnt: string, options: string, thread: Buffer, self: object, malloc: (size: number) => Buffer,
    handlers: NativeHandler[], implemented: Uint32Array, onExit: () => void): void;
  fuse_native_unmount(mnt: string, thread: Buffer): void;
  [name: string]: unknown;
}

const require = createRequire(import.meta.url);
let binding: Binding | undefined;

function nativeBuildPath(): string {
  return join(dirname(require.resolve('fuse-native/package.json')), 'build', 'Release', 'fuse.node');
}

function loadBinding(): Binding {
  if (binding) return binding;
  const file = nativeBuildPath();
  const hint = 'run `npm run setup`: it patches and rebuilds fuse-native (needs libfuse2 and a C compiler)';
  if (!existsSync(file)) throw new KmxError('fuse-native is not built with kmx\'s patch', { hint });
  const loaded = require(file) as Binding;
  if (loaded.kmx_patch_level !== PATCH_LEVEL) {
    throw new KmxError(`fuse-native's build has patch level ${String(loaded.kmx_patch_level)}, kmx needs ${PATCH_LEVEL}`, { hint });
  }
  binding = loaded;
  return loaded;
}

function libfuseOptions(request: EngineMountRequest): string {
  const o: FuseOptions = request.options;
  // nonempty: libfuse 2 alone refuses non-empty mountpoints; libfuse 3 and the kernel allow them.
  const list = [`fsname=${request.fsname}`, `subtype=${request.subtype}`, 'big_writes', 'nonempty'];
  const flag = (on: boolean | undefined, name: string): void => {
    if (on) list.push(name);
  };
  const value = (v: number | undefined, name: string): void => {
    if (v !== undefined) list.push(`${name}=${v}`);
  };
  flag(o.allowOther, 'allow_other');
  flag(o.defaultPermissions, 'default_permissions');
  flag(o.readOnly, 'ro');
  flag(o.directIo, 'direct_io');
  flag(o.kernelCache, 'kernel_cache');
  flag(o.useIno, 'use_ino');
  flag(o.useIno, 'readdir_ino');
  flag(o.autoUnmount, 'auto_unmount');
  flag(o.debug, 'debug');
  value(o.attrTimeout, 'attr_timeout');
  value(o.entryTimeout, 'entry_timeout');
  value(o.negativeTimeout, 'negative_timeout');
  value(o.maxRead, 'max_read');
  value(Math.min(o.maxWrite ?? MAX_WRITE, MAX_WRITE), 'max_write');
  value(o.maxBackground, 'max_background');
  value(o.congestionThreshold, 'congestion_threshold');
  list.push(...(o.mountFlags ?? []));
  return `-o${list.join(',')}`;
}

// ---- encoding replies in the binding's layouts ----

const TWO32 = 4294967296;

function setU64(ints: Uint32Array, index: number, value: number): void {
  const high = Math.floor(value / TWO32);
  ints[index] = value - high * TWO32;
  ints[index + 1] = high >>> 0; // two's complement for negative seconds
}

/** struct stat as the patched binding reads it: 21 uint32s, times as (sec lo, sec hi, nsec). */
function statArray(attr: Attr, ints = new Uint32Array(21)): Uint32Array {
  ints[0] = attr.mode;
  ints[1] = attr.uid;
  ints[2] = attr.gid;
  setU64(ints, 3, attr.size);
  ints[5] = 0;
  ints[6] = attr.nlink;
  ints[7] = attr.ino ?? 0;
  ints[8] = attr.rdev ?? 0;
  ints[9] = attr.blksize ?? 4096;
  setU64(ints, 10, attr.blocks ?? Math.ceil(attr.size / 512));
  setU64(ints, 12, attr.atime.sec);
  ints[14] = attr.atime.nsec;
  setU64(ints, 15, attr.mtime.sec);
  ints[17] = attr.mtime.nsec;
  setU64(ints, 18, attr.ctime.sec);
  ints[20] = attr.ctime.nsec;
  return ints;
}

/** struct statvfs as 11 uint32s; block counts beyond 32 bits are expressed in larger fragments. */
function statfsArray(s: StatFs): Uint32Array {
  let { frsize, blocks, bfree, bavail } = s;
  while (blocks > 0xffffffff) {
    frsize *= 2;
    blocks = Math.floor(blocks / 2);
    bfree = Math.floor(bfree / 2);
    bavail = Math.floor(bavail / 2);
  }
  const cap = (n: number): number => Math.min(n, 0xffffffff);
  return Uint32Array.from([s.bsize, frsize, blocks, bfree, bavail, cap(s.files), cap(s.ffree), cap(s.favail ?? s.ffree), 0, 0, s.namemax]);
}

const EPOCH = { sec: 0, nsec: 0 };
/** '.' and '..' in a listing: a directory of unknown inode (libfuse's FUSE_UNKNOWN_INO; 0 would hide them). */
const DOT_STAT = statArray({ mode: 0o40755, ino: 0xffffffff, nlink: 2, uid: 0, gid: 0, size: 0, atime: EPOCH, mtime: EPOCH, ctime: EPOCH });

function timeUpdate(sec: number, nsec: number): TimeUpdate {
  if (nsec === UTIME_NOW) return 'now';
  if (nsec === UTIME_OMIT) return 'omit';
  return { sec, nsec };
}

function openFlags(reply: OpenReply): number {
  return (reply.directIo ? 1 : 0) | (reply.keepCache ? 2 : 0) | (reply.nonSeekable ? 4 : 0);
}

function checkHandle(reply: OpenReply): number {
  if (!Number.isInteger(reply.fh) || reply.fh <= 0 || reply.fh > 0x7fffffff) {
    throw SysError.of('EIO', 'open', undefined, { detail: `invalid file handle ${reply.fh}` });
  }
  return reply.fh;
}

const ERANGE = 34;

/** Fills a getxattr/listxattr reply buffer, or answers the size probe (an empty buffer). */
function xattrReply(value: Buffer, into: Buffer): number {
  if (into.length === 0) return value.length;
  if (value.length > into.length) return -ERANGE;
  value.copy(into);
  return value.length;
}

export class FuseNativeEngine implements FuseEngine {
  readonly name = 'fuse-native' as const;

  unavailableReason(): string | undefined {
    try {
      loadBinding();
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  mount(request: EngineMountRequest): Promise<EngineSession> {
    const b = loadBinding();
    const handlers = buildHandlers(b, request);
    return new Promise<EngineSession>((resolve, reject) => {
      let resolveEnded!: () => void;
      const ended = new Promise<void>((r) => (resolveEnded = r));
      const thread = Buffer.alloc(b.sizeof_fuse_thread_t);
      const threadLocals = new Set<Buffer>(); // keeps each worker's state alive as long as we are
      const malloc = (size: number): Buffer => {
        const buf = Buffer.alloc(size);
        threadLocals.add(buf);
        return buf;
      };
      let exited = false;
      const onExit = (): void => {
        if (exited) return;
        exited = true;
        b.fuse_native_unmount(request.mountpoint, thread);
        threadLocals.clear();
        void Promise.resolve(request.filesystem.destroy?.()).catch(() => undefined).then(resolveEnded);
      };
      // libfuse2's loop thread cannot be stopped from outside: an aborted session lets the event
      // loop go (its async handle unreferenced), and the kernel ends the connection when the
      // process exits and /dev/fuse closes.
      handlers.onInit = () => resolve({ ended, abort: onExit });
      try {
        b.fuse_native_mount(request.mountpoint, libfuseOptions(request), thread, handlers, malloc, handlers.table, handlers.implemented, onExit);
      } catch (err) {
        reject(new KmxError(`fuse-native could not mount ${request.mountpoint}: ${err instanceof Error ? err.message : String(err)}`));
      }
    });
  }
}

interface Handlers {
  table: NativeHandler[];
  implemented: Uint32Array;
  onInit: () => void;
}

function buildHandlers(b: Binding, request: EngineMountRequest): Handlers {
  const fs: FileSystem = request.filesystem;
  const log = request.log;
  const offUid = b.offsetof_fuse_thread_locals_t_ctx_uid;
  const offGid = b.offsetof_fuse_thread_locals_t_ctx_gid;
  const offPid = b.offsetof_fuse_thread_locals_t_ctx_pid;
  const offUmask = b.offsetof_fuse_thread_locals_t_ctx_umask;
  const callerOf = (l: Buffer): Caller => ({
    uid: l.readUInt32LE(offUid), gid: l.readUInt32LE(offGid), pid: l.readUInt32LE(offPid), umask: l.readUInt32LE(offUmask),
  });
  const signal = (name: string): Signal => b[`fuse_native_signal_${name}`] as Signal;
  const op = (name: string): number => b[`op_${name}`] as number;

  const result: Handlers = { table: [], implemented: new Uint32Array(35), onInit: () => undefined };
  const define = (name: string, present: boolean, handler: NativeHandler): void => {
    result.table[op(name)] = handler;
    if (present) result.implemented[op(name)] = 1;
  };
  /** The common shape: run the op, answer 0 or -errno with no payload. */
  const plain = (name: string, present: boolean, run: (caller: Caller, ...args: never[]) => MaybePromise<void> | undefined): void => {
    const sig = signal(name);
    define(name, present, (l, _op, ...args) => {
      const path = String(args[0]);
      runOperation(name, path, log, () => run(callerOf(l), ...args), (errno) => sig(l, -errno));
    });
  };
  const u64 = (low: number, high: number): number => low + high * TWO32;
  const has = (key: keyof FileSystem): boolean => typeof fs[key] === 'function';

  define('init', true, (l) => {
    result.onInit();
    runOperation('init', '/', log, () => fs.init?.(), (errno) => signal('init')(l, -errno));
  });

  const statScratch = new Uint32Array(21);
  const getattr = (name: string, withFh: boolean): void => {
    const sig = signal(name);
    define(name, true, (l, _op, ...args: never[]) => {
      const path: string = args[0];
      const fh: number | undefined = withFh ? args[1] : undefined;
      runOperation(name, path, log, () => fs.getattr(path, fh || undefined, callerOf(l)),
        (errno, attr) => (errno ? sig(l, -errno, statScratch) : sig(l, 0, statArray(attr as Attr, statScratch))));
    });
  };
  getattr('getattr', false);
  getattr('fgetattr', true);

  plain('access', has('access'), (c, path: string, mask: number) => fs.access?.(path, mask, c));

  const statfsSig = signal('statfs');
  define('statfs', has('statfs'), (l, _op, path: never) => {
    runOperation('statfs', path, log, () => fs.statfs?.(path, callerOf(l)) as StatFs,
      (errno, s) => statfsSig(l, -errno, errno ? new Uint32Array(11) : statfsArray(s as StatFs)));
  });

  const openLike = (name: 'open' | 'opendir' | 'create', present: boolean, run: (c: Caller, args: never[]) => OpenReply | Promise<OpenReply>): void => {
    const sig = signal(name);
    define(name, present, (l, _op, ...args: never[]) => {
      runOperation(name, args[0], log, () => run(callerOf(l), args),
        (errno, reply) => (errno ? sig(l, -errno, 0, 0) : sig(l, 0, checkHandle(reply as OpenReply), openFlags(reply as OpenReply))));
    });
  };
  openLike('open', has('open'), (c, [path, flags]) => fs.open?.(path, flags, c) as OpenReply);
  openLike('opendir', has('opendir'), (c, [path, , flags]) => fs.opendir?.(path, flags, c) as OpenReply);
  openLike('create', has('create'), (c, [path, mode, flags]) => fs.create?.(path, mode, flags, c) as OpenReply);

  plain('release', has('release'), (c, path: string, fh: number) => fs.release?.(path, fh, c));
  plain('releasedir', has('releasedir'), (c, path: string, fh: number) => fs.releasedir?.(path, fh || undefined, c));
  plain('flush', has('flush'), (c, path: string, fh: number) => fs.flush?.(path, fh, c));
  plain('fsync', has('fsync'), (c, path: string, datasync: number, fh: number) => fs.fsync?.(path, fh, datasync !== 0, c));
  plain('fsyncdir', has('fsyncdir'), (c, path: string, datasync: number, fh: number) => fs.fsyncdir?.(path, fh || undefined, datasync !== 0, c));

  const io = (name: 'read' | 'write', present: boolean): void => {
    const sig = signal(name);
    define(name, present, (l, _op, path: never, fh: never, buf: Buffer, len: number, low: number, high: number) => {
      const data = buf.length === len ? buf : buf.subarray(0, len);
      const position = u64(low, high);
      const caller = callerOf(l);
      runOperation(name, path, log,
        () => (name === 'read' ? fs.read?.(path, fh, data, position, caller) : fs.write?.(path, fh, data, position, caller)) as number,
        (errno, n) => sig(l, errno ? -errno : (n as number), 0, buf.buffer));
    });
  };
  io('read', has('read'));
  io('write', has('write'));

  const readdirSig = signal('readdir');
  define('readdir', has('readdir'), (l, _op, path: never) => {
    runOperation('readdir', path, log, () => fs.readdir?.(path, undefined, callerOf(l)) ?? [], (errno, entries) => {
      if (errno) return readdirSig(l, -errno, [], []);
      const list = entries ?? [];
      const names = ['.', '..', ...list.map((e) => e.name)];
      // The binding uses stats (for d_type, and st_ino with use_ino) only when every entry has one.
      const stats = list.every((e) => e.attr) ? [DOT_STAT, DOT_STAT, ...list.map((e) => statArray(e.attr as Attr))] : [];
      return readdirSig(l, 0, names, stats);
    });
  });

  const readlinkSig = signal('readlink');
  define('readlink', has('readlink'), (l, _op, path: never) => {
    runOperation('readlink', path, log, () => fs.readlink?.(path, callerOf(l)) as string,
      (errno, target) => readlinkSig(l, -errno, errno ? '' : target));
  });

  plain('truncate', has('truncate'), (c, path: string, low: number, high: number) => fs.truncate?.(path, u64(low, high), undefined, c));
  plain('ftruncate', has('truncate'), (c, path: string, fh: number, low: number, high: number) => fs.truncate?.(path, u64(low, high), fh || undefined, c));
  plain('fallocate', has('fallocate'), (c, path: string, fh: number, mode: number, offLow: number, offHigh: number, lenLow: number, lenHigh: number) =>
    fs.fallocate?.(path, fh, mode, u64(offLow, offHigh), u64(lenLow, lenHigh), c));
  plain('utimens', has('utimens'), (c, path: string, aSec: number, aNsec: number, mSec: number, mNsec: number) =>
    fs.utimens?.(path, timeUpdate(aSec, aNsec), timeUpdate(mSec, mNsec), undefined, c));
  plain('chown', has('chown'), (c, path: string, uid: number, gid: number) =>
    fs.chown?.(path, uid === 0xffffffff ? -1 : uid, gid === 0xffffffff ? -1 : gid, undefined, c));
  plain('chmod', has('chmod'), (c, path: string, mode: number) => fs.chmod?.(path, mode, undefined, c));
  plain('mknod', has('mknod'), (c, path: string, mode: number, dev: number) => fs.mknod?.(path, mode, dev, c));
  plain('unlink', has('unlink'), (c, path: string) => fs.unlink?.(path, c));
  plain('rmdir', has('rmdir'), (c, path: string) => fs.rmdir?.(path, c));
  plain('mkdir', has('mkdir'), (c, path: string, mode: number) => fs.mkdir?.(path, mode, c));
  plain('rename', has('rename'), (c, from: string, to: string) => fs.rename?.(from, to, 0, c));
  plain('link', has('link'), (c, existing: string, path: string) => fs.link?.(existing, path, c));
  plain('symlink', has('symlink'), (c, target: string, path: string) => fs.symlink?.(target, path, c));
  plain('removexattr', has('removexattr'), (c, path: string, name: string) => fs.removexattr?.(path, name, c));

  const setxattrSig = signal('setxattr');
  define('setxattr', has('setxattr'), (l, _op, path: never, name: string, value: Buffer, _position: number, flags: number) => {
    runOperation('setxattr', path, log, () => fs.setxattr?.(path, name, value, flags, callerOf(l)), (errno) => setxattrSig(l, -errno, value.buffer));
  });
  const getxattrSig = signal('getxattr');
  define('getxattr', has('getxattr'), (l, _op, path: never, name: string, into: Buffer) => {
    runOperation('getxattr', path, log, () => fs.getxattr?.(path, name, callerOf(l)) as Buffer,
      (errno, value) => getxattrSig(l, errno ? -errno : xattrReply(value as Buffer, into), into.buffer));
  });
  const listxattrSig = signal('listxattr');
  define('listxattr', has('listxattr'), (l, _op, path: never, into: Buffer) => {
    runOperation('listxattr', path, log, () => fs.listxattr?.(path, callerOf(l)) ?? [], (errno, names) => {
      const list = Buffer.from((names ?? []).map((n) => `${n}\0`).join(''));
      listxattrSig(l, errno ? -errno : xattrReply(list, into), into.buffer);
    });
  });

  // The binding keeps a reference to every slot; fill the ones it never calls.
  for (let i = 0; i < 35; i++) result.table[i] ??= () => undefined;
  return result;
}
