/** What a crypto worker is set up with: the key, the choices that drive its sub-keys, and the shared slots. */
export interface WorkerSetup {
  master: Uint8Array;
  aesSiv: boolean;
  hkdf: boolean;
}

export interface WorkerData extends WorkerSetup {
  /** The slot arena shared with the main thread: data moves through it, never through messages. */
  arena: SharedArrayBuffer;
  slotBytes: number;
}

/**
 * Jobs: each one reads or writes a backing file itself (descriptors are shared by all threads)
 * and exchanges data through its slot of the arena. File IDs travel as hex (a Buffer would
 * drag its whole 8 KiB pool slab through the structured clone).
 */
export type Job =
  /** pread `count` cipher blocks from block `first`, decrypt them into the slot. */
  | { op: 'decrypt'; id: number; slot: number; fd: number; first: number; count: number; fileId: string }
  /**
   * Encrypt the slot's `length` plaintext bytes as blocks from `first` (random nonces) and pwrite
   * them. The old bytes they replace below file offset `keep` are read first; if the write
   * fails, they come back in the slot (the reply's `saved`), for the main thread to restore.
   */
  | { op: 'encrypt'; id: number; slot: number; fd: number; first: number; length: number; fileId: string; keep: number }
  /** pread `count` plaintext blocks from block `first`, encrypt them as reverse mode does for `cPath` into the slot. */
  | { op: 'reverse'; id: number; slot: number; fd: number; first: number; count: number; cPath: string };

/** What the main thread sends a worker: jobs, and at the end of the mount `close` (free native contexts and exit). */
export type ToWorker = Job | { op: 'close' };

export type Reply =
  | { id: number; ok: true; length: number }
  | { id: number; ok: false; corrupt?: { blockNo: number; reason: string }; code?: string; message: string; saved?: number };
