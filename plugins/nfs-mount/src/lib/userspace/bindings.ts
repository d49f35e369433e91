import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';
import { KmxError } from '@kmx/core';

// libnfs 4.0 (Debian libnfs13) through koffi: the async calls only. Every call names one
// registered callback and a request id as private_data; libnfs runs callbacks from inside
// nfs_service(), which the driver calls when the socket is ready (see driver.ts).

type Koffi = typeof KoffiModule;
type Fn = ReturnType<KoffiModule.LibraryHandle['func']>;
/** An opaque C pointer as koffi hands it over. */
export type Pointer = unknown;

export interface LibNfs {
  koffi: Koffi;
  callbackType: KoffiModule.TypeObject;
  init_context: Fn; destroy_context: Fn; get_error: Fn; get_fd: Fn; which_events: Fn; service: Fn;
  set_timeout: Fn; set_version: Fn; set_uid: Fn; set_gid: Fn; set_autoreconnect: Fn; set_dircache: Fn;
  get_readmax: Fn; get_writemax: Fn; umask: Fn;
  parse_url_dir: Fn; destroy_url: Fn; mount_async: Fn;
  stat64_async: Fn; lstat64_async: Fn; fstat64_async: Fn; open_async: Fn; create_async: Fn; close_async: Fn;
  pread_async: Fn; pwrite_async: Fn; fsync_async: Fn; ftruncate_async: Fn; truncate_async: Fn;
  mkdir2_async: Fn; mknod_async: Fn; rmdir_async: Fn; unlink_async: Fn; rename_async: Fn; symlink_async: Fn; readlink_async: Fn; link_async: Fn;
  chmod_async: Fn; lchown_async: Fn; utimes_async: Fn; statvfs_async: Fn;
  opendir_async: Fn; readdir: Fn; closedir: Fn; memcpy: Fn;
  // Identity: AUTH_SYS credentials and the NFSv4 client's name and verifier.
  authunix_create: Fn; set_auth: Fn; set_client_name: Fn; set_verifier: Fn;
  // Raw RPC on the context's own connection, for what libnfs 4.0 has no call for, or encodes
  // into too small a buffer (see raw.ts).
  rpcCallbackType: KoffiModule.TypeObject;
  get_rpc_context: Fn; get_rootfh: Fn; allocate_pdu2: Fn; queue_pdu: Fn; free_pdu: Fn;
  zdr_SYMLINK3args: Fn; zdr_COMPOUND4args: Fn; nfs3_pathconf_async: Fn;
  /** Addresses of libnfs's reply decoders, handed to rpc_allocate_pdu2. */
  zdr_SYMLINK3res: Pointer; zdr_COMPOUND4res: Pointer;
  direntType: KoffiModule.TypeObject; statType: KoffiModule.TypeObject; urlType: KoffiModule.TypeObject;
}

let cached: LibNfs | undefined;

/** Loads libnfs once; a clear error when it is not installed. */
export function libnfs(): LibNfs {
  if (cached) return cached;
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  let lib: KoffiModule.LibraryHandle;
  try {
    lib = koffi.load('libnfs.so.13');
  } catch (err) {
    throw new KmxError(`libnfs is not available: ${err instanceof Error ? err.message : String(err)}`, { hint: 'install it: apt-get install libnfs13' });
  }
  const callbackType = koffi.proto('void kmx_nfs_cb(int err, void *nfs, void *data, void *private_data)');
  // libnfs's rpc_cb: the status is RPC_STATUS_SUCCESS (0), _ERROR (1), _CANCEL (2) or _TIMEOUT (3).
  const rpcCallbackType = koffi.proto('void kmx_rpc_cb(void *rpc, int status, void *data, void *private_data)');
  const statType = koffi.struct('kmx_nfs_stat_64', {
    dev: 'uint64', ino: 'uint64', mode: 'uint64', nlink: 'uint64', uid: 'uint64', gid: 'uint64', rdev: 'uint64', size: 'uint64',
    blksize: 'uint64', blocks: 'uint64', atime: 'uint64', mtime: 'uint64', ctime: 'uint64',
    atime_nsec: 'uint64', mtime_nsec: 'uint64', ctime_nsec: 'uint64', used: 'uint64',
  });
  const timeval = koffi.struct('kmx_nfs_timeval', { sec: 'int64', usec: 'int64' });
  const direntType = koffi.struct('kmx_nfsdirent', {
    next: 'void *', name: 'const char *', inode: 'uint64', type: 'uint32', mode: 'uint32', size: 'uint64',
    atime: timeval, mtime: timeval, ctime: timeval, uid: 'uint32', gid: 'uint32', nlink: 'uint32',
    dev: 'uint64', rdev: 'uint64', blksize: 'uint64', blocks: 'uint64', used: 'uint64',
    atime_nsec: 'uint32', mtime_nsec: 'uint32', ctime_nsec: 'uint32',
  });
  const urlType = koffi.struct('kmx_nfs_url', { server: 'const char *', path: 'const char *', file: 'const char *' });
  const cb = 'kmx_nfs_cb *cb, void *private_data';
  const f = (proto: string): Fn => lib.func(proto);
  cached = {
    koffi, callbackType, rpcCallbackType, statType, direntType, urlType,
    init_context: f('void *nfs_init_context(void)'),
    destroy_context: f('void nfs_destroy_context(void *nfs)'),
    get_error: f('const char *nfs_get_error(void *nfs)'),
    get_fd: f('int nfs_get_fd(void *nfs)'),
    which_events: f('int nfs_which_events(void *nfs)'),
    service: f('int nfs_service(void *nfs, int revents)'),
    set_timeout: f('void nfs_set_timeout(void *nfs, int ms)'),
    set_version: f('int nfs_set_version(void *nfs, int version)'),
    set_uid: f('void nfs_set_uid(void *nfs, int uid)'),
    set_gid: f('void nfs_set_gid(void *nfs, int gid)'),
    set_autoreconnect: f('void nfs_set_autoreconnect(void *nfs, int retries)'),
    set_dircache: f('void nfs_set_dircache(void *nfs, int enabled)'),
    get_readmax: f('uint64_t nfs_get_readmax(void *nfs)'),
    get_writemax: f('uint64_t nfs_get_writemax(void *nfs)'),
    umask: f('uint16_t nfs_umask(void *nfs, uint16_t mask)'),
    parse_url_dir: f('void *nfs_parse_url_dir(void *nfs, const char *url)'),
    destroy_url: f('void nfs_destroy_url(void *url)'),
    mount_async: f(`int nfs_mount_async(void *nfs, const char *server, const char *exportname, ${cb})`),
    stat64_async: f(`int nfs_stat64_async(void *nfs, const char *path, ${cb})`),
    lstat64_async: f(`int nfs_lstat64_async(void *nfs, const char *path, ${cb})`),
    fstat64_async: f(`int nfs_fstat64_async(void *nfs, void *fh, ${cb})`),
    open_async: f(`int nfs_open_async(void *nfs, const char *path, int flags, ${cb})`),
    create_async: f(`int nfs_create_async(void *nfs, const char *path, int flags, int mode, ${cb})`),
    close_async: f(`int nfs_close_async(void *nfs, void *fh, ${cb})`),
    pread_async: f(`int nfs_pread_async(void *nfs, void *fh, uint64_t offset, uint64_t count, ${cb})`),
    pwrite_async: f(`int nfs_pwrite_async(void *nfs, void *fh, uint64_t offset, uint64_t count, const void *buf, ${cb})`),
    fsync_async: f(`int nfs_fsync_async(void *nfs, void *fh, ${cb})`),
    ftruncate_async: f(`int nfs_ftruncate_async(void *nfs, void *fh, uint64_t length, ${cb})`),
    truncate_async: f(`int nfs_truncate_async(void *nfs, const char *path, uint64_t length, ${cb})`),
    mkdir2_async: f(`int nfs_mkdir2_async(void *nfs, const char *path, int mode, ${cb})`),
    mknod_async: f(`int nfs_mknod_async(void *nfs, const char *path, int mode, int dev, ${cb})`),
    rmdir_async: f(`int nfs_rmdir_async(void *nfs, const char *path, ${cb})`),
    unlink_async: f(`int nfs_unlink_async(void *nfs, const char *path, ${cb})`),
    rename_async: f(`int nfs_rename_async(void *nfs, const char *from, const char *to, ${cb})`),
    symlink_async: f(`int nfs_symlink_async(void *nfs, const char *target, const char *linkname, ${cb})`),
    link_async: f(`int nfs_link_async(void *nfs, const char *from, const char *to, ${cb})`),
    readlink_async: f(`int nfs_readlink_async(void *nfs, const char *path, ${cb})`),
    chmod_async: f(`int nfs_lchmod_async(void *nfs, const char *path, int mode, ${cb})`),
    lchown_async: f(`int nfs_lchown_async(void *nfs, const char *path, int uid, int gid, ${cb})`),
    utimes_async: f(`int nfs_lutimes_async(void *nfs, const char *path, void *times, ${cb})`),
    statvfs_async: f(`int nfs_statvfs_async(void *nfs, const char *path, ${cb})`),
    opendir_async: f(`int nfs_opendir_async(void *nfs, const char *path, ${cb})`),
    readdir: f('void *nfs_readdir(void *nfs, void *dir)'),
    closedir: f('void nfs_closedir(void *nfs, void *dir)'),
    // libc's, through libnfs's handle: read data is copied straight into the caller's Buffer
    // (a koffi view per read would be an external ArrayBuffer each time, and GC pressure).
    memcpy: f('void *memcpy(void *dest, void *src, size_t n)'),
    authunix_create: f('void *libnfs_authunix_create(const char *host, uint32_t uid, uint32_t gid, uint32_t len, const uint32_t *groups)'),
    set_auth: f('void nfs_set_auth(void *nfs, void *auth)'),
    set_client_name: f('void nfs4_set_client_name(void *nfs, const char *name)'),
    set_verifier: f('void nfs4_set_verifier(void *nfs, const uint8_t *verifier)'),
    get_rpc_context: f('void *nfs_get_rpc_context(void *nfs)'),
    get_rootfh: f('void *nfs_get_rootfh(void *nfs)'),
    allocate_pdu2: f('void *rpc_allocate_pdu2(void *rpc, int program, int version, int procedure, kmx_rpc_cb *cb, void *private_data, void *decode, int decode_size, size_t alloc_hint)'),
    queue_pdu: f('int rpc_queue_pdu(void *rpc, void *pdu)'),
    free_pdu: f('void rpc_free_pdu(void *rpc, void *pdu)'),
    zdr_SYMLINK3args: f('uint32_t zdr_SYMLINK3args(uint64_t zdr, uint64_t args)'),
    zdr_COMPOUND4args: f('uint32_t zdr_COMPOUND4args(uint64_t zdr, uint64_t args)'),
    nfs3_pathconf_async: f('int rpc_nfs3_pathconf_async(void *rpc, kmx_rpc_cb *cb, void *args, void *private_data)'),
    zdr_SYMLINK3res: lib.symbol('zdr_SYMLINK3res'),
    zdr_COMPOUND4res: lib.symbol('zdr_COMPOUND4res'),
  };
  return cached;
}
