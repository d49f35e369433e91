/** How long the batches fetched for one scan of a process table answer that scan's reads. */
export const SCAN_WINDOW_MS = 10_000;

type Answer = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * What one scan of a host's process table fetched in batches: `ps` or `top` list /proc, then
 * read a few files of every process. The batches fetched right after the listing answer the
 * scan's reads for up to SCAN_WINDOW_MS (a scan over many hosts outlasts the cache's TTL;
 * without this, every expiry would fetch the batches again). The next listing of /proc starts
 * a new scan; without a recent listing, reads go through the ordinary cache.
 */
export class ScanSnapshot {
  private started = 0;
  private readonly answers = new Map<string, Answer>();
  private readonly batches = new Map<string, Promise<void>>();

  constructor(readonly windowMs = SCAN_WINDOW_MS) {}

  start(): void {
    this.started = Date.now();
    this.answers.clear();
    this.batches.clear();
  }

  /** Ends the scan: a write, or a host gone down, makes what it fetched suspect. */
  stop(): void {
    this.started = 0;
    this.answers.clear();
    this.batches.clear();
  }

  get active(): boolean {
    return Date.now() - this.started < this.windowMs;
  }

  /** The scan's answer for `key` (a value, or a throw of the error it had), or undefined. */
  peek<T>(key: string): { value: T } | undefined {
    if (!this.active) return undefined;
    const answer = this.answers.get(key);
    if (!answer) return undefined;
    if (!answer.ok) throw answer.error;
    return { value: answer.value as T };
  }

  put(key: string, value: unknown): void {
    this.answers.set(key, { ok: true, value });
  }

  putError(key: string, error: unknown): void {
    this.answers.set(key, { ok: false, error });
  }

  /** Runs `load` once per scan for `key`; later callers get the same promise. */
  batch(key: string, load: () => Promise<void>): Promise<void> {
    let running = this.batches.get(key);
    if (!running) {
      running = load();
      this.batches.set(key, running);
    }
    return running;
  }
}
