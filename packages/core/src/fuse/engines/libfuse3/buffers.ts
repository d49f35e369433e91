import { koffi } from '../../../libc/library.js';
import type { Libfuse3, Pointer } from './bindings.js';
import { FUSE_BUF_MEM, FUSE_BUF_SIZE } from './layout.js';

/** Spare receive buffers kept for reuse (each is libfuse's bufsize: 1 MiB + a page). */
const SPARE_RECEIVE_BUFFERS = 4;
/** libfuse 3's receive buffer: FUSE_MAX_MAX_PAGES (256) pages of data plus a header page. */
const RECEIVE_BUFFER_BYTES = 257 * 4096;
/** Read reply buffers kept for reuse, of all sizes together. */
const SPARE_READ_BUFFERS = 16;

/** What a write handler that did not finish at once holds: the receive memory its data lives in. */
export interface Loan {
  mem: Pointer | undefined;
  returned: boolean;
}

/**
 * The one `struct fuse_buf` every request is received into. libfuse mallocs its memory on the
 * first receive and reuses it for every request after. A WRITE's data is handed to the
 * filesystem in place (no copy); when the write does not finish inside its callback, the
 * memory is lent to it and the fuse_buf gets a spare (or, with mem = NULL, a fresh malloc
 * from libfuse); the loan comes back to the spares when the write has been answered.
 */
export class ReceiveBuffer {
  readonly pointer: Pointer;
  private readonly spares: Pointer[] = [];
  private wanted: Loan | undefined;
  private freed = false;
  /**
   * One Buffer over each receive block, by address, for WRITE data to be a subarray of: a fresh
   * external ArrayBuffer per request counts 1 MiB of external memory each time, and V8 answered
   * with a full GC every few dozen MiB written (a fifth of the main thread at 300 MiB/s).
   */
  private readonly views = new Map<bigint, Buffer>();

  constructor(private readonly lib: Libfuse3) {
    this.pointer = lib.calloc(1, FUSE_BUF_SIZE) as Pointer;
    if (!this.pointer) throw new Error('out of memory for the FUSE receive buffer');
  }

  /** `size` bytes at `data` (inside the current receive block) as a Buffer, without a copy. */
  dataView(data: Pointer, size: number): Buffer {
    const mem = this.mem();
    if (mem) {
      const base = koffi().address(mem);
      const offset = Number(koffi().address(data) - base);
      if (offset >= 0 && offset + size <= RECEIVE_BUFFER_BYTES) {
        let whole = this.views.get(base);
        if (!whole) {
          whole = Buffer.from(koffi().view(mem, RECEIVE_BUFFER_BYTES));
          this.views.set(base, whole);
        }
        return whole.subarray(offset, offset + size);
      }
    }
    return Buffer.from(koffi().view(data, size));
  }

  /** Called by a write still running when its callback returns: its data must outlive the next receive. */
  lend(): Loan {
    const loan: Loan = { mem: undefined, returned: false };
    this.wanted = loan;
    return loan;
  }

  /** After each process_buf: hands the current memory to the loan asked for, if any. */
  settleLoan(): void {
    const loan = this.wanted;
    if (!loan) return;
    this.wanted = undefined;
    if (loan.returned) return;
    loan.mem = this.mem();
    koffi().encode(this.pointer, FUSE_BUF_MEM, 'void *', this.spares.pop() ?? null);
  }

  /** The write was answered: its memory may be reused. */
  giveBack(loan: Loan): void {
    loan.returned = true;
    if (!loan.mem) return; // still inside its callback: nothing was lent
    if (!this.freed && this.spares.length < SPARE_RECEIVE_BUFFERS) this.spares.push(loan.mem);
    else this.release(loan.mem);
    loan.mem = undefined;
  }

  /** Frees everything but memory still lent to writes not answered yet (freed when they are). */
  free(): void {
    this.freed = true;
    const mem = this.mem();
    if (mem) this.release(mem);
    for (const spare of this.spares.splice(0)) this.release(spare);
    this.lib.free(this.pointer);
  }

  /** Frees a receive block, forgetting its view first: no Buffer may outlive the memory it shows. */
  private release(mem: Pointer): void {
    this.views.delete(koffi().address(mem));
    this.lib.free(mem);
  }

  private mem(): Pointer | undefined {
    return (koffi().decode(this.pointer, FUSE_BUF_MEM, 'void *') as Pointer | null) ?? undefined;
  }
}

/** Buffers for READ replies, reused: allocating a fresh 1 MiB buffer per read costs page faults. */
export class ReadBuffers {
  private readonly free: Buffer[] = [];

  take(size: number): Buffer {
    const index = this.free.findIndex((b) => b.length === size);
    if (index >= 0) return this.free.splice(index, 1)[0]!;
    return Buffer.allocUnsafeSlow(size);
  }

  give(buffer: Buffer): void {
    if (this.free.length >= SPARE_READ_BUFFERS) this.free.shift();
    this.free.push(buffer);
  }
}
