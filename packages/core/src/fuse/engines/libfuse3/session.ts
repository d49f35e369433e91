import { setTimeout as sleep } from 'node:timers/promises';
import { KmxError } from '../../../errors/index.js';
import { koffi } from '../../../libc/library.js';
import { runOperation, type EngineMountRequest, type EngineSession } from '../../engine.js';
import type { FuseOptions } from '../../options.js';
import { libfuse3, type Libfuse3, type Pointer } from './bindings.js';
import { ReceiveBuffer } from './buffers.js';
import {
  CAP_AUTO_INVAL_DATA, CAP_HANDLE_KILLPRIV, CAP_READDIRPLUS_AUTO, CAP_WRITEBACK_CACHE, CONN, FUSE_ARGS_ARGV, FUSE_ARGS_SIZE, OPS_SIZE,
} from './layout.js';
import { OpsTable, allOps } from './ops.js';
import { widenReadahead } from './readahead.js';
import { Requests } from './requests.js';

const EINTR = 4;
const EAGAIN = 11;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
export const MAX_WRITE = 1024 * 1024;
/** The largest request the kernel sends (256 pages): the default readahead window. */
const MAX_READ = 1024 * 1024;
/** Requests handled per wakeup before the event loop gets a turn (async replies, timers). */
const REQUESTS_PER_WAKEUP = 64;
const INIT_TIMEOUT_MS = 30_000;
/** How long the end of a session waits for operations still running to answer. */
const DRAIN_TIMEOUT_MS = 5_000;

/** koffi's uv poll handle. Its callback receives (status, events), not what koffi's typings say. */
interface PollHandle {
  start(options: { readable: boolean }, callback: (status: number) => void): void;
  stop(): void;
  close(): void;
}
type Poll = (fd: number, options: { readable: boolean }, callback: (status: number) => void) => PollHandle;

/** libfuse's command line: mount options it applies itself (the rest kmx does in its replies). */
export function sessionArguments(request: EngineMountRequest): string[] {
  const o: FuseOptions = request.options;
  const list = [`fsname=${request.fsname}`, `subtype=${request.subtype}`];
  if (o.allowOther) list.push('allow_other');
  if (o.defaultPermissions) list.push('default_permissions');
  if (o.readOnly) list.push('ro');
  if (o.autoUnmount) list.push('auto_unmount');
  if (o.maxRead !== undefined) list.push(`max_read=${o.maxRead}`);
  return ['kmx', '-o', list.join(','), ...(o.debug ? ['-d'] : [])];
}

/**
 * One mount served by libfuse3's low-level API from the Node event loop: the session's
 * /dev/fuse descriptor is non-blocking and watched with a uv poll handle; each wakeup
 * receives and processes requests until EAGAIN. Handlers answer synchronously when the
 * filesystem's operation is synchronous, else when its promise settles.
 */
export class Libfuse3Session implements EngineSession {
  readonly ended: Promise<void>;
  private resolveEnded!: () => void;
  private readonly lib: Libfuse3;
  private readonly requests: Requests;
  private readonly receive: ReceiveBuffer;
  private readonly table: OpsTable;
  private se: Pointer | undefined;
  private poll: PollHandle | undefined;
  private state: 'mounting' | 'initializing' | 'serving' | 'ending' | 'ended' = 'mounting';
  private initReceived = false;
  private initialized!: { resolve: () => void; reject: (err: Error) => void };

  constructor(private readonly request: EngineMountRequest) {
    this.lib = libfuse3();
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.requests = new Requests(this.lib, request.filesystem, request.options, request.log);
    this.receive = new ReceiveBuffer(this.lib);
    this.table = new OpsTable(this.lib, allOps(this.requests, request.options, this.receive, this.onInit));
  }

  /** Mounts; resolves once the kernel's INIT has been answered and the filesystem's init has run. */
  async start(): Promise<EngineSession> {
    const { lib, request } = this;
    const ready = new Promise<void>((resolve, reject) => (this.initialized = { resolve, reject }));
    try {
      this.se = this.newSession();
      if (Number(lib.session_mount(this.se, request.mountpoint)) !== 0) {
        throw new KmxError(`libfuse3 could not mount ${request.mountpoint} (its message is above)`);
      }
      const fd = Number(lib.session_fd(this.se));
      lib.fcntl(fd, F_SETFL, 'int', Number(lib.fcntl(fd, F_GETFL)) | O_NONBLOCK);
      this.poll = (koffi().node.poll as unknown as Poll)(fd, { readable: true }, this.onReadable);
    } catch (err) {
      this.release();
      throw err;
    }
    const timer = setTimeout(() => this.fail(new KmxError(`the kernel did not start the FUSE session on ${request.mountpoint} in time`)), INIT_TIMEOUT_MS);
    try {
      await ready;
    } finally {
      clearTimeout(timer);
    }
    await widenReadahead(request.mountpoint, request.options.maxRead ?? MAX_READ);
    return this;
  }

  private newSession(): Pointer {
    const { lib } = this;
    const k = koffi();
    const argv = sessionArguments(this.request);
    // struct fuse_args in C memory: libfuse replaces its argv with a copy of its own.
    const strings = argv.map((arg) => lib.strdup(arg) as Pointer);
    const array = lib.calloc(argv.length + 1, 8) as Pointer;
    const args = lib.calloc(1, FUSE_ARGS_SIZE) as Pointer;
    try {
      strings.forEach((pointer, i) => k.encode(array, i * 8, 'void *', pointer));
      k.encode(args, 0, 'int', argv.length);
      k.encode(args, FUSE_ARGS_ARGV, 'void *', array);
      const se = lib.session_new(args, this.table.pointer, OPS_SIZE, null) as Pointer | null;
      lib.opt_free_args(args);
      if (!se) throw new KmxError(`libfuse3 refused the mount options ${argv.slice(1).join(' ')} (its message is above)`);
      return se;
    } finally {
      for (const pointer of strings) lib.free(pointer);
      lib.free(array);
      lib.free(args);
    }
  }

  /** The kernel's INIT, inside process_buf: sets what kmx wants of the connection; libfuse answers after it. */
  private readonly onInit = (_userdata: Pointer, conn: Pointer): void => {
    try {
      this.initReceived = true;
      const k = koffi();
      const o = this.request.options;
      const get = (offset: number): number => k.decode(conn, offset, 'uint32_t') as number;
      const set = (offset: number, value: number): void => k.encode(conn, offset, 'uint32_t', value >>> 0);
      const capable = get(CONN.capable);
      // READDIRPLUS on every page, not only the first (AUTO): one request lists and stats.
      // HANDLE_KILLPRIV off: the kernel clears setuid/setgid bits on write and chown itself,
      // as it would on a local filesystem (a server running as root would keep them).
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
    } catch (err) {
      this.request.log(`init: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  /** The poll callback. Nothing may escape it: koffi would leave the exception pending and the loop wedged. */
  private readonly onReadable = (status: number): void => {
    try {
      this.drain();
      // An error status (POLLERR) is how an unmount shows up: the read above saw ENODEV and ended the session.
      if (status < 0 && this.state !== 'ending' && this.state !== 'ended') void this.finish();
    } catch (err) {
      this.request.log(`FUSE loop: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
  };

  private drain(): void {
    const { lib, receive } = this;
    for (let i = 0; i < REQUESTS_PER_WAKEUP && (this.state === 'serving' || this.state === 'mounting'); i++) {
      const received = Number(lib.receive_buf(this.se, receive.pointer));
      if (received === -EINTR) continue;
      if (received === -EAGAIN) return;
      if (received <= 0) {
        // 0: the session ended (unmounted, or the connection aborted); anything else is fatal too.
        if (received < 0) this.request.log(`reading /dev/fuse failed (errno ${-received})`);
        void this.finish();
        return;
      }
      lib.process_buf(this.se, receive.pointer);
      receive.settleLoan();
      if (this.initReceived && this.state === 'mounting') return this.startFilesystem();
    }
  }

  /** INIT has been answered: run the filesystem's init before serving anything else. */
  private startFilesystem(): void {
    this.state = 'initializing';
    this.poll?.stop();
    const fs = this.request.filesystem;
    runOperation('init', '/', this.request.log, () => fs.init?.(), (errno) => {
      if (this.state !== 'initializing') return;
      if (errno) return this.fail(new KmxError(`the filesystem failed to start (errno ${errno})`));
      this.state = 'serving';
      this.poll?.start({ readable: true }, this.onReadable);
      this.initialized.resolve();
    });
  }

  private fail(err: Error): void {
    this.initialized.reject(err);
    void this.finish();
  }

  /** The session is over, however it ended: answer what is still running, then tear everything down. */
  private async finish(): Promise<void> {
    if (this.state === 'ending' || this.state === 'ended') return;
    const wasLive = this.state !== 'mounting';
    this.state = 'ending';
    this.initialized.reject(new KmxError(`the FUSE session on ${this.request.mountpoint} ended before it started`));
    this.poll?.close();
    this.poll = undefined;
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (this.requests.pending.size > 0 && Date.now() < deadline) await sleep(10);
    if (wasLive) {
      try {
        await this.request.filesystem.destroy?.();
      } catch (err) {
        this.request.log(`destroy: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.release();
  }

  /** Unmounts (unless already gone), destroys the session, frees C memory and callbacks. */
  private release(): void {
    this.requests.closed = true;
    this.poll?.close();
    this.poll = undefined;
    if (this.se) {
      this.lib.session_unmount(this.se); // does nothing once the kernel connection is gone
      this.lib.session_destroy(this.se);
      this.se = undefined;
    }
    this.receive.free();
    this.table.dispose();
    this.state = 'ended';
    this.resolveEnded();
  }
}
