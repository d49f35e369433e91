// A one-line progress bar on a terminal, redrawn in place; elsewhere (a log, a pipe) a plain
// line every few seconds, so output stays readable.

const WIDTH = 30;

export class ProgressLine {
  private lastPlain = Date.now(); // plain lines only for runs longer than a few seconds
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  update(percent: number, bytes: number, rate: string): void {
    const mib = (bytes / 1048576).toFixed(1);
    if (this.out.isTTY) {
      const filled = Math.round((percent / 100) * WIDTH);
      this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(percent).padStart(3)}%  ${mib} MiB  ${rate}   `);
      this.drawn = true;
    } else if (Date.now() - this.lastPlain > 5000) {
      this.lastPlain = Date.now();
      this.out.write(`progress: ${percent}%, ${mib} MiB, ${rate}\n`);
    }
  }

  /** Ends the redrawn line so the next output starts clean. */
  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
