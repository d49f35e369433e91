/** Lines of a piped stdin, read on demand (a passwd takes the old password, then the new one). */
export class StdinLines {
  private buffered = '';
  private ended = false;
  private reading: Promise<void> | undefined;

  async next(): Promise<string | undefined> {
    while (!this.buffered.includes('\n') && !this.ended) await this.more();
    if (this.buffered === '' && this.ended) return undefined;
    const newline = this.buffered.indexOf('\n');
    const line = newline >= 0 ? this.buffered.slice(0, newline) : this.buffered;
    this.buffered = newline >= 0 ? this.buffered.slice(newline + 1) : '';
    return line.replace(/\r$/, '');
  }

  private more(): Promise<void> {
    this.reading ??= new Promise<void>((resolve) => {
      const stdin = process.stdin;
      const onData = (chunk: Buffer): void => {
        this.buffered += chunk.toString('utf8');
        done();
      };
      const onEnd = (): void => {
        this.ended = true;
        done();
      };
      const done = (): void => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        stdin.off('error', onEnd);
        stdin.pause();
        this.reading = undefined;
        resolve();
      };
      stdin.on('data', onData);
      stdin.once('end', onEnd);
      stdin.once('error', onEnd);
      stdin.resume();
    });
    return this.reading;
  }
}
