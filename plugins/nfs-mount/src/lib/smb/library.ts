import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';
import { KmxError } from '@kmx/core';

// libsmbclient (Debian libsmbclient, Samba 4.17) through koffi: a context per connection and the
// context's own function pointers (smbc_getFunction*), never the compat API's one global context.
// Loaded only inside a connection's worker thread (see worker.ts): every call blocks.

type Koffi = typeof KoffiModule;
type Fn = ReturnType<KoffiModule.LibraryHandle['func']>;
/** An opaque C pointer as koffi hands it over. */
export type Pointer = unknown;

/** struct stat on x86-64 glibc: 144 bytes (st_nlink before st_mode). */
export const STAT_SIZE = 144;
/** struct statvfs on x86-64 glibc: 112 bytes. */
export const STATVFS_SIZE = 112;
/**
 * Where struct libsmb_file_info (what smbc_readdirplus2 returns) keeps its name pointer in
 * Samba 4.17 on x86-64: size, attrs, one 64-bit id, four timespecs, then name. Read from the
 * bytes libsmbclient returned; the published header's order (uid and gid) would put it at 96,
 * where the short name is.
 */
export const FILE_INFO_NAME_OFFSET = 88;

export interface LibSmbclient {
  koffi: Koffi;
  authType: KoffiModule.TypeObject;
  new_context: Fn; init_context: Fn; free_context: Fn; setFunctionAuthDataWithContext: Fn;
  setPort: Fn; setTimeout: Fn; setUser: Fn; setWorkgroup: Fn; setOptionProtocols: Fn; setOptionNoAutoAnonymousLogin: Fn;
  setOptionUseKerberos: Fn; setOptionFallbackAfterKerberos: Fn; setOptionUseCCache: Fn; setDebug: Fn; setOptionDebugToStderr: Fn;
  /** The context's operations, as functions (from smbc_getFunction*). */
  functions(ctx: Pointer): SmbFunctions;
}

export interface SmbFunctions {
  open: Fn; close: Fn; read: Fn; write: Fn; lseek: Fn; fstat: Fn; ftruncate: Fn;
  stat: Fn; unlink: Fn; rename: Fn; mkdir: Fn; rmdir: Fn; chmod: Fn; utimes: Fn; statvfs: Fn;
  opendir: Fn; readdirplus2: Fn; closedir: Fn;
  /** Drops the context's cached server connections: the next call connects afresh. */
  purgeCachedServers: Fn;
}

let cached: LibSmbclient | undefined;

/** Loads libsmbclient once; a clear error when it is not installed. */
export function libsmbclient(): LibSmbclient {
  if (cached) return cached;
  // struct stat, struct statvfs and libsmb_file_info are read at x86-64 offsets (arm64's stat differs).
  if (process.arch !== 'x64') throw new KmxError(`kmx smb in user space knows libsmbclient's structures on x86-64 only, not ${process.arch}`, { hint: 'mount through kmxd (the kernel\'s CIFS client) instead' });
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  let lib: KoffiModule.LibraryHandle;
  try {
    lib = koffi.load('libsmbclient.so.0');
  } catch (err) {
    throw new KmxError(`libsmbclient is not available: ${err instanceof Error ? err.message : String(err)}`, { hint: 'install it: apt-get install libsmbclient' });
  }
  // The output buffers are plain pointers: the callback writes C strings into them itself.
  const authType = koffi.proto('void kmx_smbc_auth(void *ctx, const char *server, const char *share, void *workgroup, int workgroup_len, void *user, int user_len, void *password, int password_len)');
  koffi.struct('kmx_smbc_timeval', { sec: 'int64', usec: 'int64' }); // named in utimes' prototype
  const protos = {
    open: koffi.proto('void *kmx_smbc_open(void *ctx, const char *url, int flags, uint32_t mode)'),
    close: koffi.proto('int kmx_smbc_close(void *ctx, void *file)'),
    read: koffi.proto('intptr_t kmx_smbc_read(void *ctx, void *file, _Out_ uint8_t *buf, size_t count)'),
    write: koffi.proto('intptr_t kmx_smbc_write(void *ctx, void *file, const uint8_t *buf, size_t count)'),
    lseek: koffi.proto('int64_t kmx_smbc_lseek(void *ctx, void *file, int64_t offset, int whence)'),
    fstat: koffi.proto('int kmx_smbc_fstat(void *ctx, void *file, _Out_ uint8_t *st)'),
    ftruncate: koffi.proto('int kmx_smbc_ftruncate(void *ctx, void *file, int64_t size)'),
    stat: koffi.proto('int kmx_smbc_stat(void *ctx, const char *url, _Out_ uint8_t *st)'),
    unlink: koffi.proto('int kmx_smbc_unlink(void *ctx, const char *url)'),
    rename: koffi.proto('int kmx_smbc_rename(void *octx, const char *from, void *nctx, const char *to)'),
    mkdir: koffi.proto('int kmx_smbc_mkdir(void *ctx, const char *url, uint32_t mode)'),
    rmdir: koffi.proto('int kmx_smbc_rmdir(void *ctx, const char *url)'),
    chmod: koffi.proto('int kmx_smbc_chmod(void *ctx, const char *url, uint32_t mode)'),
    utimes: koffi.proto('int kmx_smbc_utimes(void *ctx, const char *url, kmx_smbc_timeval *times)'),
    statvfs: koffi.proto('int kmx_smbc_statvfs(void *ctx, const char *url, _Out_ uint8_t *st)'),
    opendir: koffi.proto('void *kmx_smbc_opendir(void *ctx, const char *url)'),
    readdirplus2: koffi.proto('void *kmx_smbc_readdirplus2(void *ctx, void *dir, _Out_ uint8_t *st)'),
    closedir: koffi.proto('int kmx_smbc_closedir(void *ctx, void *dir)'),
    purgeCachedServers: koffi.proto('int kmx_smbc_purge(void *ctx)'),
  };
  const getters: Record<keyof SmbFunctions, string> = {
    open: 'Open', close: 'Close', read: 'Read', write: 'Write', lseek: 'Lseek', fstat: 'Fstat', ftruncate: 'Ftruncate',
    stat: 'Stat', unlink: 'Unlink', rename: 'Rename', mkdir: 'Mkdir', rmdir: 'Rmdir', chmod: 'Chmod', utimes: 'Utimes', statvfs: 'StatVFS',
    opendir: 'Opendir', readdirplus2: 'ReaddirPlus2', closedir: 'Closedir', purgeCachedServers: 'PurgeCachedServers',
  };
  const getter = Object.fromEntries(Object.entries(getters).map(([key, name]) => [key, lib.func(`void *smbc_getFunction${name}(void *ctx)`)])) as Record<keyof SmbFunctions, Fn>;
  cached = {
    koffi,
    authType,
    new_context: lib.func('void *smbc_new_context(void)'),
    init_context: lib.func('void *smbc_init_context(void *ctx)'),
    free_context: lib.func('int smbc_free_context(void *ctx, int shutdown_ctx)'),
    setFunctionAuthDataWithContext: lib.func('void smbc_setFunctionAuthDataWithContext(void *ctx, kmx_smbc_auth *fn)'),
    setPort: lib.func('void smbc_setPort(void *ctx, uint16_t port)'),
    setTimeout: lib.func('void smbc_setTimeout(void *ctx, int ms)'),
    setUser: lib.func('void smbc_setUser(void *ctx, const char *user)'),
    setWorkgroup: lib.func('void smbc_setWorkgroup(void *ctx, const char *workgroup)'),
    setOptionProtocols: lib.func('bool smbc_setOptionProtocols(void *ctx, const char *min, const char *max)'),
    setOptionNoAutoAnonymousLogin: lib.func('void smbc_setOptionNoAutoAnonymousLogin(void *ctx, bool b)'),
    setOptionUseKerberos: lib.func('void smbc_setOptionUseKerberos(void *ctx, bool b)'),
    setOptionFallbackAfterKerberos: lib.func('void smbc_setOptionFallbackAfterKerberos(void *ctx, bool b)'),
    setOptionUseCCache: lib.func('void smbc_setOptionUseCCache(void *ctx, bool b)'),
    setDebug: lib.func('void smbc_setDebug(void *ctx, int level)'),
    setOptionDebugToStderr: lib.func('void smbc_setOptionDebugToStderr(void *ctx, bool b)'),
    functions(ctx) {
      return Object.fromEntries(Object.entries(getter).map(([key, get]) => {
        const pointer = get(ctx) as Pointer;
        if (!pointer) throw new KmxError(`libsmbclient has no ${key} function`);
        return [key, koffi.decode(pointer, protos[key as keyof SmbFunctions])];
      })) as unknown as SmbFunctions;
    },
  };
  return cached;
}
