/** A scan answers from its batches for at least this long after the listing that started it, */
export const SCAN_WINDOW_MS = 10_000;
/** then for as long as its reads go on without a pause this long, */
export const SCAN_PAUSE_MS = 1_000;
/** and never longer than this. */
export const SCAN_MAX_MS = 120_000;

type Answer = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * When any host's scan was last read from, shared by the scans of every host of a view: `ps`
 * reads one host's processes after another, and with many hosts it reaches the last ones long
 * after the listing; their scans must still be on while it goes on reading the others.
 */
export class ScanActivity {
  lastUse = 0;
}

/**
 * What one scan of a host's process table fetched in batches: `ps` or `top` list /proc, then
 * read a few files of every process. The batches fetched right after the listing answer the
 * scan's reads (a scan over many hosts outlasts the cache's TTL; without this, every expiry
 * would fetch the batches again) for SCAN_WINDOW_MS, and after that while the reads of any
 * host's scan go on (a pause of SCAN_PAUSE_MS ends the scan, and SCAN_MAX_MS at the latest). The next listing
 * of /proc starts a new scan; without one, reads go through the ordinary cache.
 */
export class ScanSnapshot {
  private started = 0;
  private lastUse = 0;
  private readonly answers = new Map<string, Answer>();
  private readonly batches = new Map<string, Promise<void>>();

  constructor(readonly windowMs = SCAN_WINDOW_MS, private readonly activity = new ScanActivity()) {}

  start(): void {
    this.started = Date.now();
    this.lastUse = this.started;
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
    const now = Date.now();
    const age = now - this.started;
    return age < SCAN_MAX_MS && (age < this.windowMs || now - Math.max(this.lastUse, this.activity.lastUse) < SCAN_PAUSE_MS);
  }

  /** The scan's answer for `key` (a value, or a throw of the error it had), or undefined. */
  peek<T>(key: string): { value: T } | undefined {
    if (!this.active) return undefined;
    const answer = this.answers.get(key);
    if (!answer) return undefined;
    this.lastUse = this.activity.lastUse = Date.now();
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
