const REPEAT_AFTER_MS = 60_000;
const MAX_REMEMBERED = 4096;

/**
 * Reports corrupt blocks, headers and names: one line per damaged spot, however often the
 * kernel retries or reads ahead over it (a repeat is logged again only after a minute).
 */
export class CorruptionLog {
  private readonly seen = new Map<string, number>();

  constructor(private readonly write: (line: string) => void = (line) => process.stderr.write(`kmx enc: ${line}\n`)) {}

  report(key: string, line: string): void {
    const now = Date.now();
    const last = this.seen.get(key);
    if (last !== undefined && now - last < REPEAT_AFTER_MS) return;
    if (this.seen.size >= MAX_REMEMBERED) this.seen.clear();
    this.seen.set(key, now);
    this.write(line);
  }
}
