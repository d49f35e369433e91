import type * as KoffiModule from 'koffi';
import { cfn, koffi, type CFunction } from '../../../libc/library.js';

/**
 * libfuse3's low-level API and the few libc calls the engine needs, declared once through
 * koffi. Pointers travel as BigInts (koffi 3); structs are filled in JS Buffers, which koffi
 * passes to C by address, without copying.
 */

export type Pointer = bigint;

export interface Libfuse3 {
  readonly version: number;
  session_new: CFunction;
  session_mount: CFunction;
  session_unmount: CFunction;
  session_destroy: CFunction;
  session_fd: CFunction;
  notify_inval_inode: CFunction;
  session_exit: CFunction;
  receive_buf: CFunction;
  process_buf: CFunction;
  opt_free_args: CFunction;
  req_ctx: CFunction;
  reply_err: CFunction;
  reply_none: CFunction;
  reply_entry: CFunction;
  reply_create: CFunction;
  reply_attr: CFunction;
  reply_readlink: CFunction;
  reply_open: CFunction;
  reply_write: CFunction;
  reply_buf: CFunction;
  reply_statfs: CFunction;
  reply_xattr: CFunction;
  /** libc */
  calloc: CFunction;
  free: CFunction;
  strdup: CFunction;
  memcpy_in: CFunction;
  fcntl: CFunction;
  /** Callback prototypes, by the lowlevel op they implement. */
  proto: Record<CallbackKind, KoffiModule.TypeObject>;
}

/** The shapes of the lowlevel ops kmx implements (several ops share one). */
export type CallbackKind =
  | 'init' | 'destroy' | 'name' | 'forget' | 'fileInfo' | 'setattr' | 'ino' | 'mknod' | 'mkdir' | 'symlink' | 'rename'
  | 'link' | 'io' | 'write' | 'sync' | 'setxattr' | 'getxattr' | 'listxattr' | 'access' | 'create' | 'forgetMulti' | 'fallocate';

const PROTOTYPES: Record<CallbackKind, string> = {
  init: 'void kmx_ll_init(void *userdata, void *conn)',
  destroy: 'void kmx_ll_destroy(void *userdata)',
  name: 'void kmx_ll_name(void *req, uint64_t parent, const char *name)',
  forget: 'void kmx_ll_forget(void *req, uint64_t ino, uint64_t nlookup)',
  fileInfo: 'void kmx_ll_file_info(void *req, uint64_t ino, void *fi)',
  setattr: 'void kmx_ll_setattr(void *req, uint64_t ino, void *attr, int to_set, void *fi)',
  ino: 'void kmx_ll_ino(void *req, uint64_t ino)',
  mknod: 'void kmx_ll_mknod(void *req, uint64_t parent, const char *name, uint32_t mode, uint64_t rdev)',
  mkdir: 'void kmx_ll_mkdir(void *req, uint64_t parent, const char *name, uint32_t mode)',
  symlink: 'void kmx_ll_symlink(void *req, const char *link, uint64_t parent, const char *name)',
  rename: 'void kmx_ll_rename(void *req, uint64_t parent, const char *name, uint64_t newparent, const char *newname, uint32_t flags)',
  link: 'void kmx_ll_link(void *req, uint64_t ino, uint64_t newparent, const char *newname)',
  io: 'void kmx_ll_io(void *req, uint64_t ino, size_t size, int64_t off, void *fi)',
  write: 'void kmx_ll_write(void *req, uint64_t ino, void *buf, size_t size, int64_t off, void *fi)',
  sync: 'void kmx_ll_sync(void *req, uint64_t ino, int datasync, void *fi)',
  setxattr: 'void kmx_ll_setxattr(void *req, uint64_t ino, const char *name, void *value, size_t size, int flags)',
  getxattr: 'void kmx_ll_getxattr(void *req, uint64_t ino, const char *name, size_t size)',
  listxattr: 'void kmx_ll_listxattr(void *req, uint64_t ino, size_t size)',
  access: 'void kmx_ll_access(void *req, uint64_t ino, int mask)',
  create: 'void kmx_ll_create(void *req, uint64_t parent, const char *name, uint32_t mode, void *fi)',
  fallocate: 'void kmx_ll_fallocate(void *req, uint64_t ino, int mode, int64_t offset, int64_t length, void *fi)',
  forgetMulti: 'void kmx_ll_forget_multi(void *req, size_t count, void *forgets)',
};

const LIBRARY = 'libfuse3.so.3';
/** Struct layouts in layout.ts are those of libfuse 3.10–3.16 (fuse_file_info grew in 3.17). */
const MIN_VERSION = 310;
const MAX_VERSION = 316;

let loaded: Libfuse3 | undefined;
let loadError: string | undefined;

function load(): Libfuse3 {
  const k = koffi();
  const lib = k.load(LIBRARY);
  const version = Number(lib.func('int fuse_version(void)')());
  if (version < MIN_VERSION || version > MAX_VERSION) {
    throw new Error(`libfuse ${Math.floor(version / 100)}.${version % 100} is not supported (kmx knows 3.10 to 3.16's struct layouts)`);
  }
  const proto = {} as Record<CallbackKind, KoffiModule.TypeObject>;
  for (const [kind, prototype] of Object.entries(PROTOTYPES) as [CallbackKind, string][]) proto[kind] = k.proto(prototype);
  return {
    version,
    session_new: lib.func('void *fuse_session_new(void *args, void *ops, size_t op_size, void *userdata)'),
    session_mount: lib.func('int fuse_session_mount(void *se, const char *mountpoint)'),
    session_unmount: lib.func('void fuse_session_unmount(void *se)'),
    session_destroy: lib.func('void fuse_session_destroy(void *se)'),
    session_fd: lib.func('int fuse_session_fd(void *se)'),
    notify_inval_inode: lib.func('int fuse_lowlevel_notify_inval_inode(void *se, uint64_t ino, int64_t off, int64_t len)'),
    session_exit: lib.func('void fuse_session_exit(void *se)'),
    receive_buf: lib.func('int fuse_session_receive_buf(void *se, void *buf)'),
    process_buf: lib.func('void fuse_session_process_buf(void *se, void *buf)'),
    opt_free_args: lib.func('void fuse_opt_free_args(void *args)'),
    req_ctx: lib.func('void *fuse_req_ctx(void *req)'),
    reply_err: lib.func('int fuse_reply_err(void *req, int err)'),
    reply_none: lib.func('void fuse_reply_none(void *req)'),
    reply_entry: lib.func('int fuse_reply_entry(void *req, const void *e)'),
    reply_create: lib.func('int fuse_reply_create(void *req, const void *e, const void *fi)'),
    reply_attr: lib.func('int fuse_reply_attr(void *req, const void *attr, double attr_timeout)'),
    reply_readlink: lib.func('int fuse_reply_readlink(void *req, const char *link)'),
    reply_open: lib.func('int fuse_reply_open(void *req, const void *fi)'),
    reply_write: lib.func('int fuse_reply_write(void *req, size_t count)'),
    reply_buf: lib.func('int fuse_reply_buf(void *req, const void *buf, size_t size)'),
    reply_statfs: lib.func('int fuse_reply_statfs(void *req, const void *stbuf)'),
    reply_xattr: lib.func('int fuse_reply_xattr(void *req, size_t count)'),
    calloc: cfn('void *calloc(size_t count, size_t size)'),
    free: cfn('void free(void *ptr)'),
    strdup: cfn('void *strdup(const char *s)'),
    // Copies C memory into a JS Buffer: cheaper than koffi.decode of a struct.
    memcpy_in: cfn('void *memcpy(void *dest, void *src, size_t n)'),
    fcntl: cfn('int fcntl(int fd, int cmd, ...)'),
    proto,
  };
}

/** libfuse3 through koffi, loaded on first use. Throws when the library is missing or unknown. */
export function libfuse3(): Libfuse3 {
  if (loaded) return loaded;
  if (loadError) throw new Error(loadError);
  try {
    loaded = load();
    return loaded;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    loadError = /cannot open|No such file/i.test(message) ? `${LIBRARY} cannot be loaded (install Debian's libfuse3-3)` : message;
    throw new Error(loadError);
  }
}
