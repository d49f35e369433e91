import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SysError, errnoName, errnoNumber, errnoOf } from '@kmx/core';
import { CorruptBlockError, HEADER_BYTES, PLAIN_BLOCK } from '../contentenc/index.js';
import type { Job, Reply, ToWorker, WorkerData, WorkerSetup } from './protocol.js';

/** Jobs smaller than this stay in one piece (the round trip would cost more than the split saves). */
const MIN_BLOCKS_PER_PART = 32;
/** The most blocks one job carries: a slot holds that many cipher blocks. */
const MAX_BLOCKS_PER_JOB = 256;
const SLOTS = 16;
const MAX_WORKERS = 4;
/** How long a closing worker may take to free its contexts and exit. */
const CLOSE_TIMEOUT_MS = 2000;

/** How many crypto workers a mount starts: $KMX_ENC_WORKERS (0: none, all crypto inline), else one per core up to 4. */
export function workerCount(): number {
  const configured = process.env.KMX_ENC_WORKERS;
  if (configured !== undefined && /^\d+$/.test(configured)) return Math.min(16, Number(configured));
  return Math.min(MAX_WORKERS, Math.max(1, availableParallelism()));
}

/** A pool, or undefined when workers are turned off. */
export function startCryptoPool(setup: WorkerSetup, overhead: number): CryptoPool | undefined {
  const count = workerCount();
  return count > 0 ? new CryptoPool(setup, overhead, count) : undefined;
}

/**
 * A write by the workers that failed: `reason` is the first part's error (its errno is this
 * error's too), `saved` the old bytes the failed parts had overwritten (their file offsets and
 * contents), for the caller to restore. Parts that succeeded wrote whole blocks.
 */
export class WriteFailure extends Error {
  readonly errno: number | undefined;
  readonly code: string | undefined;

  constructor(readonly reason: unknown, readonly saved: ReadonlyArray<{ offset: number; bytes: Buffer }>) {
    super(reason instanceof Error ? reason.message : String(reason));
    this.name = 'WriteFailure';
    this.errno = errnoOf(reason);
    this.code = this.errno === undefined ? undefined : errnoName(this.errno);
  }
}

/**
 * Waits for every part of a write, then fails with the first failure and every failed part's
 * saved bytes. Promise.all would fail while other parts still write: whoever then restores
 * the old bytes could do so before a part is done overwriting them.
 */
async function everyPart(parts: ReadonlyArray<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(parts)).filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length === 0) return;
  const saved = failed.flatMap((r) => (r.reason instanceof WriteFailure ? r.reason.saved : []));
  const first: unknown = failed[0]!.reason;
  throw new WriteFailure(first instanceof WriteFailure ? first.reason : first, saved);
}

type JobWithoutIds = Job extends infer J ? (J extends Job ? Omit<J, 'id' | 'slot'> : never) : never;

interface PoolWorker {
  worker: Worker;
  pending: number;
}

/**
 * Worker threads that encrypt and decrypt content blocks, each doing its own pread/pwrite on
 * the shared descriptors. Node's per-block AEAD calls cost microseconds of JavaScript each;
 * in workers they run on every core while the main thread keeps serving FUSE requests. Data
 * moves through slots of one SharedArrayBuffer (no per-job buffers for the main thread's GC);
 * large jobs are split by whole blocks across the workers.
 */
export class CryptoPool {
  private readonly workers: PoolWorker[];
  private readonly waiting = new Map<number, { resolve: (reply: Reply) => void; worker: PoolWorker }>();
  private readonly arena: Buffer;
  private readonly slotBytes: number;
  private readonly freeSlots: number[] = [];
  private readonly slotWaiters: Array<(slot: number) => void> = [];
  private nextId = 1;

  private readonly cipherBlock: number;

  constructor(setup: WorkerSetup, overhead: number, size = workerCount()) {
    this.cipherBlock = PLAIN_BLOCK + overhead;
    this.slotBytes = MAX_BLOCKS_PER_JOB * this.cipherBlock;
    const shared = new SharedArrayBuffer(SLOTS * this.slotBytes);
    this.arena = Buffer.from(shared);
    for (let i = 0; i < SLOTS; i++) this.freeSlots.push(i);
    const data: WorkerData = { ...setup, arena: shared, slotBytes: this.slotBytes };
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
      const entry = { worker, pending: 0 };
      worker.on('message', (reply: Reply) => this.settle(reply));
      worker.on('error', (err) => this.failAll(worker, err));
      worker.unref(); // an idle pool never keeps the process alive; a busy worker does (see send)
      return entry;
    });
  }

  /**
   * Decrypts blocks first … first+count-1 of an open encrypted file and hands the plaintext
   * (fewer bytes at the end of the file) to `consume`, piece by piece in order, each piece
   * valid only during the call. Resolves to the bytes consumed.
   */
  async decrypt(fd: number, first: number, count: number, fileId: Buffer, consume: (piece: Buffer, offset: number) => void): Promise<number> {
    const hex = fileId.toString('hex');
    return this.gather(count, PLAIN_BLOCK, (offset, n) => ({ op: 'decrypt', fd, first: first + offset, count: n, fileId: hex }), consume);
  }

  /**
   * Encrypts `plain` as blocks from `first` and writes them. On failure it rejects with a
   * WriteFailure that holds the old bytes below file offset `keep` that failed parts overwrote.
   */
  async encrypt(fd: number, first: number, fileId: Buffer, plain: Buffer, keep: number): Promise<void> {
    const hex = fileId.toString('hex');
    const blocks = Math.ceil(plain.length / PLAIN_BLOCK);
    await everyPart(this.split(blocks).map(async ([offset, n]) => {
      const slice = plain.subarray(offset * PLAIN_BLOCK, Math.min(plain.length, (offset + n) * PLAIN_BLOCK));
      await this.withSlot((slot) => {
        slice.copy(this.slotView(slot));
        return this.send({ op: 'encrypt', fd, first: first + offset, length: slice.length, fileId: hex, keep }, slot);
      });
    }));
  }

  /**
   * Write-behind: copies `plain` into slots and hands the jobs to the workers; resolves as soon
   * as the caller's buffer is no longer needed, to the writes' completion (failing as encrypt).
   */
  async encryptBehind(fd: number, first: number, fileId: Buffer, plain: Buffer, keep: number): Promise<{ done: Promise<void> }> {
    const hex = fileId.toString('hex');
    const blocks = Math.ceil(plain.length / PLAIN_BLOCK);
    const jobs: Array<Promise<number>> = [];
    for (const [offset, n] of this.split(blocks)) {
      const slice = plain.subarray(offset * PLAIN_BLOCK, Math.min(plain.length, (offset + n) * PLAIN_BLOCK));
      const slot = await this.acquireSlot();
      slice.copy(this.slotView(slot));
      jobs.push(this.send({ op: 'encrypt', fd, first: first + offset, length: slice.length, fileId: hex, keep }, slot).finally(() => this.releaseSlot(slot)));
    }
    return { done: everyPart(jobs) };
  }

  /** Reverse mode: plaintext blocks first … first+count-1 of a plain file, encrypted as `cPath`, handed to `consume` in order. */
  reverse(fd: number, first: number, count: number, cPath: string, cipherBlock: number, consume: (piece: Buffer, offset: number) => void): Promise<number> {
    return this.gather(count, cipherBlock, (offset, n) => ({ op: 'reverse', fd, first: first + offset, count: n, cPath }), consume);
  }

  /** Ends the workers: each frees its native cipher contexts and exits (terminated if it does not, in time). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map(async ({ worker }) => {
      const exited = once(worker, 'exit');
      worker.postMessage({ op: 'close' } satisfies ToWorker);
      const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    }));
  }

  /** Runs the parts of a reading job in parallel and feeds their results to `consume` in order, up to the first short one. */
  private async gather(count: number, unit: number, part: (offset: number, n: number) => JobWithoutIds, consume: (piece: Buffer, offset: number) => void): Promise<number> {
    const parts = this.split(count);
    let consumed = 0;
    let ended = false;
    const done: Array<() => void> = [];
    // Each part keeps its slot until every earlier part has been consumed: order is kept without copies.
    const turns = parts.map(() => {
      let open!: () => void;
      const turn = new Promise<void>((resolve) => (open = resolve));
      done.push(open);
      return turn;
    });
    done[0]?.();
    await Promise.all(parts.map(async ([offset, n], i) => {
      await this.withSlot(async (slot) => {
        let length = 0;
        let failure: unknown;
        try {
          length = await this.send(part(offset, n), slot);
        } catch (err) {
          failure = err;
        }
        await turns[i];
        try {
          if (failure !== undefined) {
            ended = true;
            throw failure;
          }
          if (!ended) {
            consume(this.slotView(slot).subarray(0, length), consumed);
            consumed += length;
            if (length < n * unit) ended = true; // the end of the file
          }
        } finally {
          done[i + 1]?.();
        }
      });
    }));
    return consumed;
  }

  private slotView(slot: number): Buffer {
    return this.arena.subarray(slot * this.slotBytes, (slot + 1) * this.slotBytes);
  }

  private async withSlot<T>(body: (slot: number) => Promise<T>): Promise<T> {
    const slot = await this.acquireSlot();
    try {
      return await body(slot);
    } finally {
      this.releaseSlot(slot);
    }
  }

  private acquireSlot(): Promise<number> {
    const free = this.freeSlots.pop();
    return free !== undefined ? Promise.resolve(free) : new Promise<number>((resolve) => this.slotWaiters.push(resolve));
  }

  private releaseSlot(slot: number): void {
    const waiter = this.slotWaiters.shift();
    if (waiter) waiter(slot);
    else this.freeSlots.push(slot);
  }

  /** [offset, count] parts of a job of `count` blocks: spread over the workers, but neither tiny nor larger than a slot. */
  private split(count: number): Array<[number, number]> {
    const parts = Math.max(Math.ceil(count / MAX_BLOCKS_PER_JOB), Math.min(this.workers.length, Math.floor(count / MIN_BLOCKS_PER_PART)), 1);
    const per = Math.ceil(count / parts);
    const out: Array<[number, number]> = [];
    for (let offset = 0; offset < count; offset += per) out.push([offset, Math.min(per, count - offset)]);
    return out;
  }

  private async send(job: JobWithoutIds, slot: number): Promise<number> {
    const target = this.workers.reduce((best, w) => (w.pending < best.pending ? w : best));
    const id = this.nextId++;
    if (target.pending++ === 0) target.worker.ref();
    const reply = await new Promise<Reply>((resolve) => {
      this.waiting.set(id, { resolve, worker: target });
      target.worker.postMessage({ ...job, id, slot });
    });
    if (reply.ok) return reply.length;
    if (reply.corrupt) throw new CorruptBlockError(reply.corrupt.blockNo, reply.corrupt.reason);
    const errno = reply.code ? errnoNumber(reply.code) : undefined;
    const err = errno !== undefined ? new SysError(errno, job.op === 'encrypt' ? 'write' : job.op) : new Error(reply.message);
    if (job.op !== 'encrypt') throw err;
    // The old bytes the failed write replaced, out of the slot before it is used again.
    const saved = reply.saved ? [{ offset: HEADER_BYTES + job.first * this.cipherBlock, bytes: Buffer.from(this.slotView(slot).subarray(0, reply.saved)) }] : [];
    throw new WriteFailure(err, saved);
  }

  private settle(reply: Reply): void {
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    if (--waiter.worker.pending === 0) waiter.worker.worker.unref();
    waiter.resolve(reply);
  }

  /** A worker died: every job it had fails with EIO rather than hanging its FUSE request. */
  private failAll(worker: Worker, err: Error): void {
    for (const [id, waiter] of this.waiting) {
      if (waiter.worker.worker !== worker) continue;
      this.waiting.delete(id);
      if (--waiter.worker.pending === 0) worker.unref();
      waiter.resolve({ id, ok: false, code: 'EIO', message: `crypto worker failed: ${err.message}` });
    }
  }
}
