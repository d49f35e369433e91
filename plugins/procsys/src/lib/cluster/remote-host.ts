import * as grpc from '@grpc/grpc-js';
import { KmxError, SysError, errnoNumber, type Attr, type DirEntry, type MaybePromise } from '@kmx/core';
import { connectAgent, unary, type ProcHostClient } from '../rpc/client.js';
import { PROTOCOL_VERSION } from '../rpc/agent.js';
import type { HelloReply, ReadReply } from '../rpc/generated/procsys.js';
import { fromWireAttr, readManyFiles, throwIfError } from '../rpc/wire.js';
import { remotelyReadable } from '../rpc/access-policy.js';
import type { Host, HostState, HostStatus } from './host.js';
import type { Limiter } from './limiter.js';
import { processFileAttr, scanBatches } from './process-files.js';
import { ScanSnapshot, type ScanActivity } from './scan-snapshot.js';
import { EHOSTDOWN, ETIMEDOUT, TRANSPORT_CODES, describeRpcError, hostUnreachable, isServiceError } from './rpc-errors.js';
import { TtlCache } from './ttl-cache.js';

export interface RemoteOptions {
  /** How long one read may take, queueing included (ms). */
  timeoutMs: number;
  /** How long answers are kept (ms; 0: not at all). */
  cacheTtlMs: number;
  limiter: Limiter;
  credentials: grpc.ChannelCredentials;
  /** Shared by every host of the view (scan-snapshot.ts). */
  scanActivity?: ScanActivity;
  log?: (line: string) => void;
}

/** Files `ps` and `top` read for every process: fetched for all of a host's processes in one call. */
const PREFETCHED = /^\/\d+\/(stat|status|cmdline|statm)$/;
/** A process directory: its listing is fetched with every other process directory's. */
const PROCESS_DIR = /^\/\d+$/;
const PREFETCH_BATCH = 4096;
/** The cache key of the listing of /proc itself. */
const PROC_LISTING = 'l/';
const READ_LIMIT = 4 * 1024 * 1024;
const PROBE_FIRST_MS = 250;
const PROBE_MAX_MS = 5000;
/**
 * A remote agent. Reads are bounded by a deadline; a host that misses one, or whose
 * connection fails, is marked down: from then on its reads fail at once (EHOSTDOWN) and a
 * probe with exponential backoff (250 ms … 5 s) brings it back when it answers again.
 */
export class RemoteHost implements Host {
  readonly local = false;
  private client: ProcHostClient;
  private readonly cache: TtlCache;
  private currentState: HostState = 'connecting';
  private since = new Date();
  private lastError: string | undefined;
  private rttMs: number | undefined;
  private hello: HelloReply | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probeDelay = PROBE_FIRST_MS;
  /** The latest listing of /proc: prefetches batch by it. */
  private processNames: string[] = [];
  private readonly scan: ScanSnapshot;
  /** The names of a process directory on this host, once asked (process-files.ts). */
  private processDirNames: Promise<ReadonlySet<string>> | undefined;
  private knownProcessDirNames: ReadonlySet<string> | undefined;
  private closed = false;

  constructor(readonly name: string, readonly address: string, readonly slot: number, private readonly options: RemoteOptions) {
    this.client = connectAgent(name, address, options.credentials);
    this.cache = new TtlCache(options.cacheTtlMs);
    this.scan = new ScanSnapshot(undefined, options.scanActivity);
  }

  get state(): HostState {
    return this.currentState;
  }

  get bootTime(): number {
    return this.hello?.bootTime ?? 0;
  }

  status(): HostStatus {
    return {
      name: this.name, slot: this.slot, state: this.currentState, address: this.address, since: this.since,
      ...(this.rttMs !== undefined ? { rttMs: this.rttMs } : {}), ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** The first contact: resolves once the agent answered, or rejects with one clear line. */
  async connect(): Promise<void> {
    try {
      await this.probe();
    } catch (err) {
      this.markDown(err);
      if (isServiceError(err) && err.code === grpc.status.PERMISSION_DENIED) {
        throw new KmxError(`peer ${this.name} (${this.address}) refused this node: ${describeRpcError(err)}`, { hint: 'its owner revoked this node\'s certificate: ask for a new one (kmx procsys certs)' });
      }
      const why = describeRpcError(err);
      throw new KmxError(`peer ${this.name} (${this.address}) did not answer: ${why}`, {
        hint: /revoked/.test(why) ? 'its certificate is in the revocation list: give it a new one (kmx procsys certs), or take it off the list'
          : /certificate|handshake|SSL|TLS|self.signed|alert/i.test(why)
          ? 'its certificate must come from the same CA (kmx procsys certs) and name the peer'
          : 'is `kmx procsys serve` running there, on that address? (--allow-down starts without it)',
      });
    }
  }

  /** Starts probing a host that was down at start (mount --allow-down). */
  startProbing(): void {
    if (this.currentState !== 'up') this.scheduleProbe();
  }

  private async probe(): Promise<void> {
    const started = performance.now();
    const reply = await unary(this.client.hello.bind(this.client), {}, Date.now() + this.options.timeoutMs);
    if (reply.version !== PROTOCOL_VERSION) throw new Error(`speaks ${reply.version || 'an unknown protocol'}, not ${PROTOCOL_VERSION}`);
    this.hello = reply;
    this.rttMs = Math.round((performance.now() - started) * 100) / 100;
    if (this.currentState !== 'up') {
      // The first contact is reported by the command; later changes go to the log.
      if (this.currentState === 'down') this.options.log?.(`peer ${this.name} (${this.address}) is up again`);
      this.currentState = 'up';
      this.since = new Date();
      this.lastError = undefined;
    }
    this.probeDelay = PROBE_FIRST_MS;
  }

  private markDown(err: unknown): void {
    this.lastError = describeRpcError(err);
    if (this.currentState !== 'down') {
      if (this.currentState === 'up') this.options.log?.(`peer ${this.name} (${this.address}) is down: ${this.lastError}`);
      this.currentState = 'down';
      this.since = new Date();
      this.cache.clear();
      this.scan.stop();
      this.processDirNames = undefined;
      this.knownProcessDirNames = undefined;
    }
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.probe().catch((err: unknown) => {
        this.probeDelay = Math.min(this.probeDelay * 2, PROBE_MAX_MS);
        this.markDown(err);
      });
    }, this.probeDelay);
    this.probeTimer.unref();
  }

  /**
   * One call: fails at once while the host is down; a transport failure marks it down. A
   * background batch (a prefetch) gets five times the deadline, and missing it does not
   * mark the host down: it was big, not the host slow.
   */
  private async call<T>(run: (deadline: number) => Promise<T>, background = false): Promise<T> {
    if (this.currentState === 'down') throw new SysError(EHOSTDOWN, 'read', this.name, { detail: this.lastError });
    const deadline = Date.now() + this.options.timeoutMs * (background ? 5 : 1);
    try {
      return await this.options.limiter.run(deadline, () => run(deadline));
    } catch (err) {
      if (isServiceError(err) && TRANSPORT_CODES.has(err.code)) {
        if (!(background && err.code === grpc.status.DEADLINE_EXCEEDED)) this.markDown(err);
        throw new SysError(err.code === grpc.status.DEADLINE_EXCEEDED ? ETIMEDOUT : EHOSTDOWN, 'read', this.name, { detail: describeRpcError(err) });
      }
      throw err;
    }
  }

  /** Waits for a prefetch, but never longer than one read may take: the read then goes on its own. */
  private within(prefetch: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.options.timeoutMs);
      prefetch.catch(() => undefined).finally(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * The answer for `key`: the scan's, the cache's, or the host's (identical requests in
   * flight shared). The listing of /proc itself skips the scan: a new listing is what
   * starts the next scan, so it is never older than the cache allows.
   */
  private cached<T>(key: string, run: (deadline: number) => Promise<T>): Promise<T> {
    try {
      const hit = key === PROC_LISTING ? undefined : this.scan.peek<T>(key);
      if (hit) return Promise.resolve(hit.value);
    } catch (err) {
      return Promise.reject(err);
    }
    // Answers about files are cached; a host that did not answer is not.
    return this.cache.get(key, () => this.call(run), (err) => err instanceof SysError && !hostUnreachable(err));
  }

  /** Keeps a batch's answer for the scan, and in the cache for ordinary reads. */
  private keep(key: string, value: unknown): void {
    this.scan.put(key, value);
    this.cache.put(key, value);
  }

  private keepError(key: string, err: unknown): void {
    this.scan.putError(key, err);
    this.cache.putError(key, err);
  }

  /**
   * An answer already here (the scan's, then the cache's), or undefined: given back without a
   * promise, so that the engine replies at once and goes on to the next request.
   */
  private atHand<T>(key: string): { value: T } | undefined {
    return this.scan.peek<T>(key) ?? this.cache.peek<T>(key);
  }

  /** A listing already here; a listing that failed counts as absent (the slow path decides). */
  private listingAtHand(path: string): DirEntry[] | undefined {
    try {
      return this.atHand<DirEntry[]>(`l${path}`)?.value;
    } catch {
      return undefined;
    }
  }

  /**
   * Attributes come from the parent's listing (one call answers a whole directory, so
   * `ps` looking up a process's files costs one round trip per process, not per file);
   * a name the listing does not show (a thread's hidden /proc/TID) is asked for directly.
   */
  stat(path: string, follow = false): MaybePromise<Attr> {
    const slash = path.lastIndexOf('/');
    if (!follow && slash >= 0 && path !== '/' && this.cache.ttlMs > 0) {
      const scanned = this.scannedAttr(path);
      if (scanned) return scanned;
      const parent = slash === 0 ? '/' : path.slice(0, slash);
      const listing = this.listingAtHand(parent);
      if (!listing) return this.statThroughListing(path, parent);
      const entry = listing.find((e) => e.name === path.slice(slash + 1));
      if (entry?.attr) return entry.attr;
      // Only /proc itself has names it does not list (threads' /proc/TID).
      if (parent !== '/') throw SysError.of('ENOENT', 'lookup', path);
    }
    return this.statDirectly(path, follow);
  }

  private async statThroughListing(path: string, parent: string): Promise<Attr> {
    const listing = await Promise.resolve(this.list(parent)).catch((err: unknown) => {
      if (hostUnreachable(err)) throw err;
      return undefined;
    });
    const entry = listing?.find((e) => e.name === path.slice(path.lastIndexOf('/') + 1));
    if (entry?.attr) return entry.attr;
    if (listing && parent !== '/') throw SysError.of('ENOENT', 'lookup', path);
    return this.statDirectly(path, false);
  }

  private statDirectly(path: string, follow: boolean): MaybePromise<Attr> {
    const key = `s${follow ? 1 : 0}${path}`;
    return this.atHand<Attr>(key)?.value ?? this.cached(key, async (deadline) => {
      const reply = await unary(this.client.stat.bind(this.client), { path: path.slice(1), follow }, deadline);
      throwIfError(reply.error, 'stat', path);
      return fromWireAttr(reply.attr);
    });
  }

  list(path: string): MaybePromise<DirEntry[]> {
    const key = `l${path}`;
    const hit = key === PROC_LISTING ? this.cache.peek<DirEntry[]>(key) : this.atHand<DirEntry[]>(key);
    return hit?.value ?? this.listRemotely(path);
  }

  private async listRemotely(path: string): Promise<DirEntry[]> {
    if (PROCESS_DIR.test(path) && this.scan.active) await this.within(this.prefetchListings());
    return this.cached(`l${path}`, async (deadline) => {
      const reply = await unary(this.client.list.bind(this.client), { path: path.slice(1), follow: false }, deadline);
      throwIfError(reply.error, 'opendir', path);
      const entries = reply.entries.map((e) => (e.attr ? { name: e.name, attr: fromWireAttr(e.attr) } : { name: e.name }));
      if (path === '/') this.processNames = entries.filter((e) => /^\d+$/.test(e.name)).map((e) => e.name);
      return entries;
    });
  }

  readlink(path: string): MaybePromise<string> {
    return this.atHand<string>(`k${path}`)?.value ?? this.cached(`k${path}`, async (deadline) => {
      const reply = await unary(this.client.readLink.bind(this.client), { path: path.slice(1), follow: false }, deadline);
      throwIfError(reply.error, 'readlink', path);
      return reply.target;
    });
  }

  readFile(path: string): MaybePromise<Buffer> {
    if (!remotelyReadable(path)) throw SysError.of('EACCES', 'open', path, { detail: 'not served to remote clients' });
    return this.atHand<Buffer>(`r${path}`)?.value ?? this.readRemotely(path);
  }

  private async readRemotely(path: string): Promise<Buffer> {
    if (PREFETCHED.test(path) && this.scan.active) await this.within(this.prefetchFiles());
    return this.cached(`r${path}`, async (deadline) => {
      const reply = await unary(this.client.read.bind(this.client), { path: path.slice(1), offset: 0, length: READ_LIMIT }, deadline);
      return fileData(reply, path);
    });
  }

  /**
   * stat, status, cmdline and statm of every process in the scan's listing of this host's
   * /proc, in one call (per 8192 files), so that `ps` or `top` costs one round trip per host.
   */
  private prefetchFiles(): Promise<void> {
    if (this.processNames.length === 0) return Promise.resolve();
    const batches = scanBatches(this.processNames);
    return this.scan.batch('files', () => this.call(async (deadline) => {
      await Promise.all(batches.map(async (paths) => {
        const reply = await unary(this.client.readMany.bind(this.client), { paths: paths.map((p) => p.slice(1)), maxBytesEach: 65536, acceptDeflate: true }, deadline);
        (await readManyFiles(reply)).forEach((f, i) => {
          const path = paths[i]!;
          try {
            this.keep(`r${path}`, fileData(f, path));
          } catch (err) {
            this.keepError(`r${path}`, err);
          }
        });
      }));
    }, true));
  }

  /**
   * The names a process directory holds (every one holds the same, as long as the host's
   * kernel runs): asked once per connection, so that a lookup of another name is ENOENT at once.
   */
  private fetchProcessDirNames(): Promise<void> {
    const first = this.processNames[0];
    if (this.processDirNames || first === undefined) return Promise.resolve();
    this.processDirNames = this.call(async (deadline) => {
      const reply = await unary(this.client.list.bind(this.client), { path: first, follow: false }, deadline);
      throwIfError(reply.error, 'opendir', `/${first}`);
      return new Set(reply.entries.map((e) => e.name));
    }, true).then((names) => {
      this.knownProcessDirNames = names;
      return names;
    }, (err: unknown) => {
      this.processDirNames = undefined;
      throw err;
    });
    return this.processDirNames.then(() => undefined);
  }

  /** Attributes of a process's file known from the scan without asking (process-files.ts). */
  private scannedAttr(path: string): Attr | undefined {
    if (!this.scan.active) return undefined;
    return processFileAttr(path, this.scan.peek<DirEntry[]>(PROC_LISTING)?.value, this.knownProcessDirNames);
  }

  /**
   * After a listing of /proc (what `ps` and `top` start with), fetches in the background what
   * they read next for every process: stat, status, cmdline and statm, and the names of a
   * process directory. Every host's batch then travels at once instead of one host after
   * another as the scan reaches it.
   */
  warmProcessTable(listing: DirEntry[]): void {
    if (this.cache.ttlMs <= 0 || this.currentState !== 'up') return;
    this.scan.start();
    // The listing itself too: the kernel revalidates each /PID as the scan reaches it.
    this.scan.put(PROC_LISTING, listing);
    this.processNames = listing.filter((e) => /^\d+$/.test(e.name)).map((e) => e.name);
    let reported = false;
    for (const warm of [() => this.prefetchFiles(), () => this.fetchProcessDirNames()]) {
      warm().catch((err: unknown) => {
        if (!reported) this.options.log?.(`peer ${this.name}: a batch read failed (${err instanceof Error ? err.message : String(err)}); reading file by file`);
        reported = true;
      });
    }
  }

  /** Every process directory's listing in one call (after a listing of /proc, as `ps` makes). */
  private prefetchListings(): Promise<void> {
    const paths = this.processPaths('');
    if (!paths) return Promise.resolve();
    return this.scan.batch('pl', () => this.call(async (deadline) => {
      const reply = await unary(this.client.listMany.bind(this.client), { paths: paths.map((p) => p.slice(1)) }, deadline);
      reply.lists.forEach((l, i) => {
        const path = paths[i]!;
        if (l.error) this.keepError(`l${path}`, new SysError(errnoNumber(l.error) ?? 5, 'opendir', path));
        else this.keep(`l${path}`, l.entries.map((e) => (e.attr ? { name: e.name, attr: fromWireAttr(e.attr) } : { name: e.name })));
      });
    }, true));
  }

  /** `/PID<suffix>` of every process in the latest listing of /proc, or undefined before one. */
  private processPaths(suffix: string): string[] | undefined {
    if (this.processNames.length === 0) return undefined;
    return this.processNames.slice(0, PREFETCH_BATCH).map((name) => `/${name}${suffix}`);
  }

  async write(path: string, offset: number, data: Buffer): Promise<number> {
    this.cache.clear();
    this.scan.stop();
    return this.call(async (deadline) => {
      const reply = await unary(this.client.write.bind(this.client), { path: path.slice(1), offset, data }, deadline);
      throwIfError(reply.error, 'write', path);
      return reply.written;
    });
  }

  close(): void {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.client.close();
  }
}

function fileData(reply: ReadReply, path: string): Buffer {
  throwIfError(reply.error, 'open', path);
  if (!reply.eof) throw SysError.of('EFBIG', 'read', path, { detail: 'too large to read remotely' });
  return Buffer.from(reply.data);
}
