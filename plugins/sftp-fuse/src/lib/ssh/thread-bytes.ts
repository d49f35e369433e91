/**
 * Bytes between the SSH worker thread and the main thread. Writes are gathered and posted
 * once per microtask turn, in one freshly allocated ArrayBuffer that is transferred, not
 * copied (a Buffer from Node's pool shares its ArrayBuffer and must never be transferred).
 */
export class BytePoster {
  private chunks: Buffer[] = [];
  private size = 0;
  private scheduled = false;

  constructor(private readonly post: (bytes: ArrayBuffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.size === 0) return;
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    this.chunks = [];
    this.size = 0;
    this.post(out.buffer);
  }
}

/** Messages from the SSH worker. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'data'; bytes: ArrayBuffer }
  | { type: 'log'; line: string }
  | { type: 'failed'; name: string; message: string; hint?: string; passwordOffered?: boolean }
  | { type: 'closed'; reason: string };

/** Messages to the SSH worker. */
export type ToWorker = { type: 'data'; bytes: ArrayBuffer } | { type: 'close' };
