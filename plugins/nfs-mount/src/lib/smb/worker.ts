import { parentPort, workerData } from 'node:worker_threads';
import { FILE_INFO_NAME_OFFSET, libsmbclient, STAT_SIZE, STATVFS_SIZE, type Pointer, type SmbFunctions } from './library.js';
import type { ConnectionSetup, Hello, OperationName, Operations, RemoteEntry, RemoteStat, Reply, Request } from './protocol.js';

// One SMB connection: a libsmbclient context owned by this thread, which makes every call
// synchronously, one request at a time, so the main thread's event loop never waits on the
// network. libsmbclient must never run on two threads at once (its talloc stack frames are one
// process-wide global; see client.ts), so a process has one such thread.

const setup = workerData as ConnectionSetup;
const lib = libsmbclient();
const { koffi } = lib;
const EIO = 5;
const EBADF = 9;
const SEEK_SET = 0;

/** Writes `value` and a NUL into the C buffer `into` of `capacity` bytes; false if it does not fit. */
function writeCString(into: Pointer, capacity: number, value: Uint8Array): boolean {
  if (value.length + 1 > capacity) return false;
  const bytes = new Uint8Array(value.length + 1);
  bytes.set(value);
  koffi.encode(into, koffi.array('uint8', bytes.length), Array.from(bytes));
  return true;
}

const encoder = new TextEncoder();
// libsmbclient asks for the credentials whenever it connects (the first call, every reconnect):
// they come from this thread's memory, never from the URL or the environment.
const auth = koffi.register((_ctx: Pointer, _server: string, _share: string, workgroup: Pointer, workgroupLength: number, user: Pointer, userLength: number, password: Pointer, passwordLength: number) => {
  if (setup.domain) writeCString(workgroup, workgroupLength, encoder.encode(setup.domain));
  writeCString(user, userLength, encoder.encode(setup.user));
  if (!setup.kerberos) writeCString(password, passwordLength, setup.password);
}, koffi.pointer(lib.authType));

const ctx = lib.new_context() as Pointer;
lib.setFunctionAuthDataWithContext(ctx, auth);
lib.setPort(ctx, setup.port);
lib.setTimeout(ctx, setup.timeoutMs);
lib.setOptionNoAutoAnonymousLogin(ctx, true);
lib.setOptionUseKerberos(ctx, setup.kerberos);
lib.setOptionFallbackAfterKerberos(ctx, false);
lib.setOptionUseCCache(ctx, setup.kerberos);
if (setup.minProtocol || setup.maxProtocol) lib.setOptionProtocols(ctx, setup.minProtocol || null, setup.maxProtocol || null);
const initialised = lib.init_context(ctx) as Pointer;
const fn = initialised ? lib.functions(ctx) : undefined;

const base = `smb://${setup.server.includes(':') ? `[${setup.server}]` : setup.server}/${encodeURIComponent(setup.share)}${setup.path.split('/').map((c) => encodeURIComponent(c)).join('/')}`;
/** A share-relative path as libsmbclient's URL, each component %-encoded (libsmbclient decodes them). */
const url = (path: string): string => (path === '/' ? `${base}/` : base + path.split('/').map((c) => encodeURIComponent(c)).join('/'));

class CallError extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

/** The errno of the call that just failed (koffi keeps it per thread). */
function failed(): never {
  throw new CallError(koffi.errno() || EIO);
}

const statBuffer = Buffer.alloc(STAT_SIZE);

function parseStat(st: Buffer): RemoteStat {
  const ns = (at: number): bigint => st.readBigInt64LE(at) * 1_000_000_000n + st.readBigInt64LE(at + 8);
  return {
    ino: Number(st.readBigUInt64LE(8)), nlink: Number(st.readBigUInt64LE(16)), mode: st.readUInt32LE(24),
    size: Number(st.readBigInt64LE(48)), blocks: Number(st.readBigInt64LE(64)),
    atimeNs: ns(72), mtimeNs: ns(88), ctimeNs: ns(104),
  };
}

const handles = new Map<number, Pointer>();
let nextHandle = 1;

function file(handle: number): Pointer {
  const f = handles.get(handle);
  if (f === undefined) throw new CallError(EBADF);
  return f;
}

function check(rc: unknown): void {
  if (Number(rc) < 0) failed();
}

/** How much a sequential read asks the server for at once. */
const READ_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * Per open file, what the last read fetched beyond what was asked (and where that read ended):
 * the next sequential reads are answered from it. Any write, truncate, rename or unlink through
 * this connection drops them all (another handle may have the same file open).
 */
const readAhead = new Map<number, { position: number; data: Buffer; end: number }>();

function readFully(f: SmbFunctions, opened: Pointer, position: number, length: number): Buffer {
  if (Number(f.lseek(ctx, opened, position, SEEK_SET)) < 0) failed();
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = Number(f.read(ctx, opened, done === 0 ? out : out.subarray(done), length - done));
    if (n < 0) failed();
    if (n === 0) break;
    done += n;
  }
  return out.subarray(0, done);
}

type Handlers = { [K in OperationName]: (...args: Operations[K]['args']) => Operations[K]['result'] };

function handlers(f: SmbFunctions): Handlers {
  return {
    stat(path) {
      check(f.stat(ctx, url(path), statBuffer));
      return parseStat(statBuffer);
    },
    fstat(handle) {
      check(f.fstat(ctx, file(handle), statBuffer));
      return parseStat(statBuffer);
    },
    open(path, flags, mode) {
      const opened = f.open(ctx, url(path), flags, mode) as Pointer;
      if (!opened) failed();
      const handle = nextHandle++;
      handles.set(handle, opened);
      return handle;
    },
    close(handle) {
      readAhead.delete(handle);
      const opened = file(handle);
      handles.delete(handle);
      check(f.close(ctx, opened));
    },
    read(handle, position, length) {
      const ahead = readAhead.get(handle);
      if (ahead && position >= ahead.position && position + length <= ahead.position + ahead.data.length) {
        ahead.end = position + length;
        return new Uint8Array(ahead.data.subarray(position - ahead.position, position + length - ahead.position));
      }
      // A read that follows the last one asks for more at once: libsmbclient splits a large read
      // into SMB READs it keeps in flight together, where the kernel's 128 KiB requests, one at a
      // time through this thread, would each wait a round trip.
      const sequential = ahead !== undefined && position === ahead.end;
      const wanted = sequential ? Math.max(length, READ_AHEAD_BYTES) : length;
      const data = readFully(f, file(handle), position, wanted);
      readAhead.set(handle, { position, data, end: position + length });
      return new Uint8Array(data.subarray(0, Math.min(length, data.length)));
    },
    write(handle, position, data) {
      readAhead.clear();
      const opened = file(handle);
      if (Number(f.lseek(ctx, opened, position, SEEK_SET)) < 0) failed();
      let done = 0;
      while (done < data.length) {
        const n = Number(f.write(ctx, opened, done === 0 ? data : data.subarray(done), data.length - done));
        if (n <= 0) failed();
        done += n;
      }
      return done;
    },
    ftruncate(handle, size) {
      readAhead.clear();
      check(f.ftruncate(ctx, file(handle), size));
    },
    unlink(path) {
      readAhead.clear();
      check(f.unlink(ctx, url(path)));
    },
    rename(from, to) {
      readAhead.clear();
      check(f.rename(ctx, url(from), ctx, url(to)));
    },
    mkdir(path, mode) {
      check(f.mkdir(ctx, url(path), mode));
    },
    rmdir(path) {
      check(f.rmdir(ctx, url(path)));
    },
    chmod(path, mode) {
      check(f.chmod(ctx, url(path), mode));
    },
    utimes(path, atime, mtime) {
      check(f.utimes(ctx, url(path), [{ sec: atime[0], usec: atime[1] }, { sec: mtime[0], usec: mtime[1] }]));
    },
    readdir(path) {
      const dir = f.opendir(ctx, url(path)) as Pointer;
      if (!dir) failed();
      const entries: RemoteEntry[] = [];
      try {
        for (;;) {
          koffi.errno(0);
          const info = f.readdirplus2(ctx, dir, statBuffer) as Pointer;
          if (!info) {
            if (koffi.errno() !== 0) failed();
            break;
          }
          const name = koffi.decode(info, FILE_INFO_NAME_OFFSET, 'const char *') as string;
          if (name !== '.' && name !== '..') entries.push({ name, stat: parseStat(statBuffer) });
        }
      } finally {
        f.closedir(ctx, dir);
      }
      return entries;
    },
    // The pool's last request: what is open is closed and the context freed here, on its own thread.
    shutdown() {
      for (const opened of handles.values()) f.close(ctx, opened);
      handles.clear();
      // The context is not freed: smbc_free_context after a readdir aborted in Samba 4.17
      // ("Freed frame … expected …", a talloc stack frame left open). The process ends with the mount.
      setImmediate(() => port.close());
    },
    reconnect() {
      readAhead.clear();
      f.purgeCachedServers(ctx);
    },
    statvfs(path) {
      const st = Buffer.alloc(STATVFS_SIZE);
      check(f.statvfs(ctx, url(path), st));
      const u = (at: number): number => Number(st.readBigUInt64LE(at));
      return { bsize: u(0), frsize: u(8), blocks: u(16), bfree: u(24), bavail: u(32), files: u(40), ffree: u(48), namemax: u(80) };
    },
  };
}

const port = parentPort!;

function hello(): Hello {
  if (!fn) return { ready: false, errno: koffi.errno() || EIO, message: 'libsmbclient could not set up a context' };
  // The first call connects and authenticates: a wrong password or an absent share fails here.
  if (Number(fn.stat(ctx, url('/'), statBuffer)) < 0) return { ready: false, errno: koffi.errno() || EIO, message: '' };
  return { ready: true };
}

const greeting = hello();
port.postMessage(greeting);
if (greeting.ready) {
  const table = handlers(fn!);
  port.on('message', (request: Request) => {
    let reply: Reply;
    const transfer: ArrayBuffer[] = [];
    try {
      const value = (table[request.op] as (...args: unknown[]) => unknown)(...request.args);
      if (value instanceof Uint8Array) transfer.push(value.buffer as ArrayBuffer);
      reply = { id: request.id, ok: true, value };
    } catch (err) {
      reply = { id: request.id, ok: false, errno: err instanceof CallError ? err.errno : EIO };
    }
    port.postMessage(reply, transfer);
  });
}

