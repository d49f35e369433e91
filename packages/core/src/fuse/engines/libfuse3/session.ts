import { setTimeout as sleep } from 'node:timers/promises';
import { KmxError } from '../../../errors/index.js';
import { koffi } from '../../../libc/library.js';
import { runOperation, type EngineMountRequest, type EngineSession } from '../../engine.js';
import { libfuse3, type Libfuse3, type Pointer } from './bindings.js';
import { ReceiveBuffer } from './buffers.js';
import { MAX_READ, configureConnection, newSession, sessionArguments } from './connection.js';
import { OpsTable, allOps } from './ops.js';
import { widenReadahead } from '../../readahead.js';
import { Requests } from './requests.js';

const EINTR = 4;
const EAGAIN = 11;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
/** Requests handled per wakeup before the event loop gets a turn (async replies, timers). */
const REQUESTS_PER_WAKEUP = 64;
const INIT_TIMEOUT_MS = 30_000;
/**
 * How long, in µs, the loop keeps polling /dev/fuse after it ran dry with every request
 * answered, before it sleeps in epoll. A sequential client (find, tar, cp) sends its next
 * request within microseconds of a reply; caught while this thread still runs, it skips a
 * sleep and a wakeup, which on an idle virtual machine cost ~60 µs each way (measured: a null
 * stat 170 → 40 µs). Bounded per wakeup, and skipped while operations are in flight, so async
 * replies never wait on it. $KMX_FUSE_SPIN_US overrides it (0: never).
 */
const SPIN_US = spinMicroseconds(process.env.KMX_FUSE_SPIN_US);

function spinMicroseconds(value: string | undefined): number {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isFinite(n) && n >= 0 ? Math.min(n, 1000) : 50;
}
/** How long the end of a session waits for operations still running to answer. */
const DRAIN_TIMEOUT_MS = 5_000;

/** koffi's uv poll handle. Its callback receives (status, events), not what koffi's typings say. */
interface PollHandle {
  start(options: { readable: boolean }, callback: (status: number) => void): void;
  stop(): void;
  close(): void;
}
type Poll = (fd: number, options: { readable: boolean }, callback: (status: number) => void) => PollHandle;

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
    // Before the request that made the change is answered, so that nothing the caller does next
    // can see the old attributes. Attributes only (offset -1): the kernel then takes no lock an
    // outstanding request could hold, and drops no page.
    this.requests.forgetAttributes = (node) => {
      if (this.se && this.state === 'serving') this.lib.notify_inval_inode(this.se, node.id, -1, 0);
    };
    this.receive = new ReceiveBuffer(this.lib);
    this.table = new OpsTable(this.lib, allOps(this.requests, request.options, this.receive, this.onInit));
  }

  /** Mounts; resolves once the kernel's INIT has been answered and the filesystem's init has run. */
  async start(): Promise<EngineSession> {
    const { lib, request } = this;
    const ready = new Promise<void>((resolve, reject) => (this.initialized = { resolve, reject }));
    try {
      this.se = newSession(lib, sessionArguments(request), this.table.pointer);
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

  /** The kernel's INIT, inside process_buf: libfuse answers it once this returns. */
  private readonly onInit = (_userdata: Pointer, conn: Pointer): void => {
    try {
      this.initReceived = true;
      configureConnection(conn, this.request.options);
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
      let received = Number(lib.receive_buf(this.se, receive.pointer));
      if (received === -EAGAIN) received = this.spin();
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

  /** Polls /dev/fuse for up to SPIN_US while serving with nothing in flight; receive_buf's last result. */
  private spin(): number {
    if (SPIN_US === 0 || this.state !== 'serving' || this.requests.pending.size > 0) return -EAGAIN;
    const until = performance.now() + SPIN_US / 1000;
    let received = -EAGAIN;
    while (received === -EAGAIN && performance.now() < until) received = Number(this.lib.receive_buf(this.se, this.receive.pointer));
    return received;
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

  abort(): void {
    void this.finish(false);
  }

  /**
   * The session is over, however it ended: answer what is still running (unless aborted), then
   * tear everything down.
   */
  private async finish(drain = true): Promise<void> {
    if (this.state === 'ending' || this.state === 'ended') return;
    const wasLive = this.state !== 'mounting';
    this.state = 'ending';
    this.initialized.reject(new KmxError(`the FUSE session on ${this.request.mountpoint} ended before it started`));
    this.poll?.close();
    this.poll = undefined;
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (drain && this.requests.pending.size > 0 && Date.now() < deadline) await sleep(10);
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
