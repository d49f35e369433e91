import { SysError } from '../../../errors/index.js';
import { runOperation } from '../../engine.js';
import type { FuseOptions } from '../../options.js';
import type { Attr, Caller, FileSystem, MaybePromise, StatFs } from '../../types.js';
import type { Libfuse3, Pointer } from './bindings.js';
import {
  CTX_SIZE, ENTRY_ATTR_TIMEOUT, ENTRY_ENTRY_TIMEOUT, ENTRY_PARAM_SIZE, ENTRY_STAT_BASE, FI_BITS, FI_FH, FI_FLAGS, FILE_INFO_SIZE,
  STAT_SIZE, STATVFS_SIZE, get64, put64, scratch, writeStat, writeStatvfs,
} from './layout.js';
import { NodeTable, type Node } from './nodes.js';

export const EIO = 5;
export const ENOENT = 2;
export const EBADF = 9;
export const ENOSYS = 38;
export const ERANGE = 34;
const ESTALE = 116;

/** Cache timeouts, in seconds, as FUSE replies carry them. */
export interface Timeouts {
  attr: number;
  entry: number;
  negative: number;
}

/**
 * What every op handler of one session shares: the filesystem, the node table, the caller
 * and file-info decoders, and the replies. Each request gets exactly one reply: `pending`
 * holds the requests not answered yet, and a reply to anything else is dropped (so a bug can
 * never answer a request twice, nor touch one libfuse has freed).
 */
export class Requests {
  readonly nodes: NodeTable;
  readonly timeouts: Timeouts;
  readonly useIno: boolean;
  readonly pending = new Set<Pointer>();
  /** Set once the session is gone: late replies are dropped. */
  closed = false;
  /** Tells the kernel to forget a node's attributes (set by the session, which owns the channel). */
  forgetAttributes: (node: Node) => void = () => undefined;

  private readonly ctx = scratch(CTX_SIZE);
  private readonly fi = scratch(FILE_INFO_SIZE);
  private readonly replyFi = scratch(FILE_INFO_SIZE);
  private readonly entry = scratch(ENTRY_PARAM_SIZE);
  private readonly stat = scratch(STAT_SIZE);
  private readonly statvfs = scratch(STATVFS_SIZE);

  constructor(readonly lib: Libfuse3, readonly fs: FileSystem, options: FuseOptions, readonly log: (line: string) => void) {
    this.useIno = options.useIno === true;
    this.nodes = new NodeTable(this.useIno);
    this.timeouts = { attr: options.attrTimeout ?? 1, entry: options.entryTimeout ?? 1, negative: options.negativeTimeout ?? 0 };
  }

  // ---- decoding ----

  /** The caller of a request, from libfuse's fuse_ctx (copied: the request is freed on reply). */
  caller(req: Pointer): Caller {
    this.lib.memcpy_in(this.ctx.buffer, this.lib.req_ctx(req), CTX_SIZE);
    const u32 = this.ctx.u32;
    return { uid: u32[0]!, gid: u32[1]!, pid: u32[2]!, umask: u32[3]! };
  }

  /** Copies a fuse_file_info (libfuse reuses it) so that fileHandle()/openFlags() can read it. */
  readFileInfo(fi: Pointer): void {
    this.lib.memcpy_in(this.fi.buffer, fi, 24);
  }

  fileHandle(): number {
    return get64(this.fi.u32, FI_FH);
  }

  openFlags(): number {
    return this.fi.u32[FI_FLAGS]! | 0;
  }

  /**
   * A change through `node` (a link, an unlink, an attribute) shows in the file's other names
   * (its hard links, each a kernel inode of its own) at once, not when their attributes expire.
   * Called before the change is answered.
   */
  changedThrough(node: Node | undefined): void {
    if (node) for (const other of this.nodes.otherNames(node)) this.forgetAttributes(other);
  }

  /** st_ino as users see it: the filesystem's own when it keeps stable ones, else the node id. */
  stIno(node: Node, attr: Attr): number {
    return this.useIno && attr.ino !== undefined ? attr.ino : node.id;
  }

  // ---- running operations ----

  /** Starts a request: from here on it must be answered exactly once. */
  begin(req: Pointer): void {
    this.pending.add(req);
  }

  /** The node of a request, or undefined after answering ESTALE (a node id the table never gave out). */
  node(req: Pointer, id: number): Node | undefined {
    const node = this.nodes.get(id);
    if (!node) this.err(req, ESTALE);
    return node;
  }

  /** Runs a filesystem operation; a failure is answered with its errno, a value goes to `reply`. */
  run<T>(req: Pointer, name: string, path: string, operation: () => MaybePromise<T>, reply: (value: T) => void): void {
    runOperation(name, path, this.log, operation, (errno, value) => (errno ? this.err(req, errno) : reply(value as T)));
  }

  /** Runs steps one after another (each synchronous or not), then `done`; the first failure is answered. */
  sequence(req: Pointer, name: string, path: string, steps: (() => MaybePromise<void>)[], done: () => void): void {
    const next = (index: number): void => {
      const step = steps[index];
      if (!step) return done();
      this.run(req, name, path, step, () => next(index + 1));
    };
    next(0);
  }

  /** A handler that never throws into libfuse: an exception answers EIO (koffi would otherwise rethrow it from process_buf). */
  guard<A extends unknown[]>(name: string, handler: (req: Pointer, ...args: A) => void): (req: Pointer, ...args: A) => void {
    return (req, ...args) => {
      this.begin(req);
      try {
        handler(req, ...args);
      } catch (err) {
        this.log(`${name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        this.err(req, EIO);
      }
    };
  }

  // ---- replies (each takes the request out of `pending` first) ----

  private take(req: Pointer): boolean {
    return this.pending.delete(req) && !this.closed;
  }

  err(req: Pointer, errno: number): void {
    if (this.take(req)) this.lib.reply_err(req, errno);
  }

  none(req: Pointer): void {
    if (this.take(req)) this.lib.reply_none(req);
  }

  /** A positive lookup: `node` has already counted it. */
  replyEntry(req: Pointer, node: Node, attr: Attr): void {
    this.fillEntry(node, attr);
    if (this.take(req)) this.lib.reply_entry(req, this.entry.buffer);
  }

  /** ENOENT the kernel may cache for the negative timeout. */
  replyNegative(req: Pointer): void {
    if (this.timeouts.negative <= 0) return this.err(req, ENOENT);
    this.entry.u32.fill(0);
    this.entry.f64[ENTRY_ENTRY_TIMEOUT] = this.timeouts.negative;
    if (this.take(req)) this.lib.reply_entry(req, this.entry.buffer);
  }

  replyCreate(req: Pointer, node: Node, attr: Attr, fh: number, bits: number): void {
    this.fillEntry(node, attr);
    this.fillOpen(fh, bits);
    if (this.take(req)) this.lib.reply_create(req, this.entry.buffer, this.replyFi.buffer);
  }

  replyAttr(req: Pointer, node: Node, attr: Attr): void {
    this.stat.u32.fill(0);
    writeStat(this.stat.u32, 0, attr, this.stIno(node, attr));
    if (this.take(req)) this.lib.reply_attr(req, this.stat.buffer, attr.validSeconds ?? this.timeouts.attr);
  }

  replyOpen(req: Pointer, fh: number, bits: number): void {
    this.fillOpen(fh, bits);
    if (this.take(req)) this.lib.reply_open(req, this.replyFi.buffer);
  }

  replyReadlink(req: Pointer, target: string): void {
    if (typeof target !== 'string') throw new TypeError('readlink must return a string');
    if (this.take(req)) this.lib.reply_readlink(req, target);
  }

  replyWrite(req: Pointer, count: number): void {
    if (this.take(req)) this.lib.reply_write(req, count);
  }

  replyBuffer(req: Pointer, data: Buffer, length = data.length): void {
    if (this.take(req)) this.lib.reply_buf(req, data, length);
  }

  replyXattrSize(req: Pointer, size: number): void {
    if (this.take(req)) this.lib.reply_xattr(req, size);
  }

  replyStatfs(req: Pointer, s: StatFs): void {
    writeStatvfs(this.statvfs.u32, s);
    if (this.take(req)) this.lib.reply_statfs(req, this.statvfs.buffer);
  }

  private fillEntry(node: Node, attr: Attr): void {
    const { u32, f64 } = this.entry;
    u32.fill(0);
    put64(u32, 0, node.id);
    writeStat(u32, ENTRY_STAT_BASE, attr, this.stIno(node, attr));
    f64[ENTRY_ATTR_TIMEOUT] = attr.validSeconds ?? this.timeouts.attr;
    f64[ENTRY_ENTRY_TIMEOUT] = attr.validSeconds ?? this.timeouts.entry;
  }

  private fillOpen(fh: number, bits: number): void {
    const u32 = this.replyFi.u32;
    u32.fill(0);
    u32[FI_BITS] = bits;
    put64(u32, FI_FH, fh);
  }
}

/** A file handle from open/create/opendir, checked: FUSE carries it as a 64-bit integer. */
export function checkHandle(fh: unknown, operation: string): number {
  if (typeof fh !== 'number' || !Number.isSafeInteger(fh) || fh < 0) {
    throw SysError.of('EIO', operation, undefined, { detail: `invalid file handle ${String(fh)}` });
  }
  return fh;
}
