import { KmxError } from '@kmx/core';

/**
 * Asks on the terminal with echo off (raw mode), as gocryptfs and ssh do. Backspace edits,
 * Enter ends, Ctrl-C and Ctrl-D abort. The terminal is restored whatever happens.
 */
export function promptHidden(prompt: string): Promise<Buffer> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    const bytes: number[] = [];
    const finish = (error?: KmxError): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(Buffer.from(bytes));
    };
    const onData = (chunk: Buffer): void => {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return finish();
        if (byte === 0x03) return finish(new KmxError('interrupted', { exitCode: 130 }));
        if (byte === 0x04) return finish(new KmxError('no password given (end of input)', { exitCode: 22 }));
        if (byte === 0x7f || byte === 0x08) bytes.pop();
        else bytes.push(byte);
      }
    };
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}
