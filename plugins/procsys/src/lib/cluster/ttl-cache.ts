/** An answer kept for a while: a value or the error it failed with. */
type Entry = { at: number; ok: true; value: unknown } | { at: number; ok: false; error: unknown };

/**
 * Remote answers kept for `ttlMs` (0: none), and identical requests in flight shared, so
 * that `ps` or `top` over many hosts costs one round trip per host and file, not per reader.
 */
export class TtlCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<unknown>>();
  private lastSweep = Date.now();

  constructor(readonly ttlMs: number, private readonly maxEntries = 200_000) {}

  /** The cached answer for `key` (a value, or a throw), or undefined on a miss. */
  peek<T>(key: string): { value: T } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (Date.now() - entry.at >= this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    if (!entry.ok) throw entry.error;
    return { value: entry.value as T };
  }

  put(key: string, value: unknown): void {
    if (this.ttlMs <= 0) return;
    this.makeRoom();
    this.entries.set(key, { at: Date.now(), ok: true, value });
  }

  putError(key: string, error: unknown): void {
    if (this.ttlMs <= 0) return;
    this.makeRoom();
    this.entries.set(key, { at: Date.now(), ok: false, error });
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Drops expired answers once per TTL: the files of processes that ended are asked for no
   * more, so they would stay until the bound otherwise (each refresh of a process table
   * leaves some), and clears everything at the bound.
   */
  private makeRoom(): void {
    const now = Date.now();
    if (now - this.lastSweep >= this.ttlMs) {
      this.lastSweep = now;
      for (const [key, entry] of this.entries) if (now - entry.at >= this.ttlMs) this.entries.delete(key);
    }
    if (this.entries.size >= this.maxEntries) this.entries.clear();
  }

  /** The cached answer, or `load`'s (shared with any identical request in flight). */
  async get<T>(key: string, load: () => Promise<T>, cacheErrors: (err: unknown) => boolean): Promise<T> {
    const hit = this.peek<T>(key);
    if (hit) return hit.value;
    const running = this.pending.get(key);
    if (running) return running as Promise<T>;
    const promise = load().then(
      (value) => {
        this.put(key, value);
        return value;
      },
      (err: unknown) => {
        if (cacheErrors(err)) this.putError(key, err);
        throw err;
      },
    ).finally(() => this.pending.delete(key));
    this.pending.set(key, promise);
    return promise;
  }

  clear(): void {
    this.entries.clear();
  }
}
