import { KmxError } from '@kmx/core';

/** What was typed after an Enter (pasted lines): it belongs to the next prompt. */
let typedAhead: number[] = [];

/**
 * Asks on the terminal with echo off (raw mode), as gocryptfs and ssh do. Backspace edits,
 * Enter ends, Ctrl-C and Ctrl-D abort. The terminal is restored whatever happens.
 */
export function promptHidden(prompt: string): Promise<Buffer> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    const bytes: number[] = [];
    let settled = false;
    const finish = (error?: KmxError): void => {
      settled = true;
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(Buffer.from(bytes));
    };
    const take = (input: number[]): void => {
      for (let i = 0; i < input.length; i++) {
        const byte = input[i]!;
        if (byte === 0x0d || byte === 0x0a) {
          typedAhead = input.slice(byte === 0x0d && input[i + 1] === 0x0a ? i + 2 : i + 1);
          return finish();
        }
        if (byte === 0x03) return finish(new KmxError('interrupted', { exitCode: 130 }));
        if (byte === 0x04) return finish(new KmxError('no password given (end of input)', { exitCode: 22 }));
        if (byte === 0x7f || byte === 0x08) bytes.pop();
        else bytes.push(byte);
      }
    };
    const onData = (chunk: Buffer): void => take([...chunk]);
    stdin.setRawMode(true);
    const ahead = typedAhead;
    typedAhead = [];
    take(ahead);
    if (settled) return;
    stdin.on('data', onData);
    stdin.resume();
  });
}
