import { KmxError } from '../../../errors/index.js';
import { koffi } from '../../../libc/library.js';
import type { EngineMountRequest } from '../../engine.js';
import type { FuseOptions } from '../../options.js';
import type { Libfuse3, Pointer } from './bindings.js';
import {
  CAP_AUTO_INVAL_DATA, CAP_HANDLE_KILLPRIV, CAP_READDIRPLUS_AUTO, CAP_WRITEBACK_CACHE, CONN, FUSE_ARGS_ARGV, FUSE_ARGS_SIZE, OPS_SIZE,
} from './layout.js';

/** The largest write request: libfuse 3's receive buffer holds 256 pages. */
export const MAX_WRITE = 1024 * 1024;
/** The largest request the kernel sends (256 pages): also the default readahead window. */
export const MAX_READ = 1024 * 1024;

/** libfuse's command line: the mount options libfuse applies itself (kmx does the rest in its replies). */
export function sessionArguments(request: EngineMountRequest): string[] {
  const o: FuseOptions = request.options;
  const list = [`fsname=${request.fsname}`, `subtype=${request.subtype}`];
  if (o.allowOther) list.push('allow_other');
  if (o.defaultPermissions) list.push('default_permissions');
  if (o.readOnly) list.push('ro');
  if (o.autoUnmount) list.push('auto_unmount');
  if (o.maxRead !== undefined) list.push(`max_read=${o.maxRead}`);
  list.push(...(o.mountFlags ?? []));
  return ['kmx', '-o', list.join(','), ...(o.debug ? ['-d'] : [])];
}

/** fuse_session_new with `argv` in a struct fuse_args in C memory (libfuse replaces its argv with a copy of its own). */
export function newSession(lib: Libfuse3, argv: readonly string[], ops: Pointer): Pointer {
  const k = koffi();
  const strings = argv.map((arg) => lib.strdup(arg) as Pointer);
  const array = lib.calloc(argv.length + 1, 8) as Pointer;
  const args = lib.calloc(1, FUSE_ARGS_SIZE) as Pointer;
  try {
    strings.forEach((pointer, i) => k.encode(array, i * 8, 'void *', pointer));
    k.encode(args, 0, 'int', argv.length);
    k.encode(args, FUSE_ARGS_ARGV, 'void *', array);
    const se = lib.session_new(args, ops, OPS_SIZE, null) as Pointer | null;
    lib.opt_free_args(args);
    if (!se) throw new KmxError(`libfuse3 refused the mount options ${argv.slice(1).join(' ')} (its message is above)`);
    return se;
  } finally {
    for (const pointer of strings) lib.free(pointer);
    lib.free(array);
    lib.free(args);
  }
}

/** What kmx wants of the connection, set in INIT's struct fuse_conn_info. */
export function configureConnection(conn: Pointer, o: FuseOptions): void {
  const k = koffi();
  const get = (offset: number): number => k.decode(conn, offset, 'uint32_t') as number;
  const set = (offset: number, value: number): void => k.encode(conn, offset, 'uint32_t', value >>> 0);
  const capable = get(CONN.capable);
  // READDIRPLUS on every page, not only the first (AUTO): one request lists and stats.
  // HANDLE_KILLPRIV off: the kernel clears setuid/setgid bits on write and chown itself, as
  // on a local filesystem (a server running as root would keep them).
  let want = get(CONN.want) & ~CAP_READDIRPLUS_AUTO & ~CAP_HANDLE_KILLPRIV;
  // AUTO_INVAL_DATA refreshes the attributes on every read() to notice changed data: with
  // attr_timeout 0 that is a GETATTR round trip per read call. Without it, cached data is
  // still dropped at each open (unless keep_cache), as with libfuse 2.
  if ((o.attrTimeout ?? 1) === 0) want &= ~CAP_AUTO_INVAL_DATA;
  if (o.writebackCache && capable & CAP_WRITEBACK_CACHE) want |= CAP_WRITEBACK_CACHE;
  set(CONN.want, want);
  set(CONN.maxWrite, Math.min(o.maxWrite ?? MAX_WRITE, MAX_WRITE));
  // libfuse refuses INIT (EPROTO) unless max_read here matches the -o max_read mount option.
  if (o.maxRead !== undefined) set(CONN.maxRead, o.maxRead);
  if (o.maxBackground !== undefined) set(CONN.maxBackground, o.maxBackground);
  if (o.congestionThreshold !== undefined) set(CONN.congestionThreshold, o.congestionThreshold);
  set(CONN.timeGran, 1); // nanosecond timestamps
}
