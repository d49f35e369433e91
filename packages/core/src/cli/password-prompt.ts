import { KmxError } from '../errors/index.js';

/** What was typed after an Enter (pasted lines): it belongs to the next prompt. */
let typedAhead: number[] = [];

const ENTER = new Set([0x0d, 0x0a]);
const ERASE = new Set([0x7f, 0x08]);
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const CTRL_U = 0x15;
/** Ctrl-Z and Ctrl-\: with echo off the terminal sends them as bytes; they are never password characters. */
const IGNORED = new Set([0x1a, 0x1c]);

/** Removes the last character typed, whole: every byte of it in UTF-8. */
function eraseCharacter(bytes: number[]): void {
  for (let n = 0; n < 4 && bytes.length > 0; n++) {
    if ((bytes.pop()! & 0xc0) !== 0x80) return; // not a continuation byte: the character's first
  }
}

/**
 * Asks for a secret on the terminal without echo, as ssh and gocryptfs do, for every plugin.
 * Its bytes are kept exactly as typed (gocryptfs compares bytes, not text). Backspace removes
 * a character (all its bytes), Ctrl-U the whole line, Enter ends; Ctrl-C cancels (exit code 130)
 * and Ctrl-D on an empty line says no password was given. The terminal is restored whatever
 * happens. `notTerminal` is the error when standard input is not a terminal.
 */
export function promptHidden(prompt: string, notTerminal?: KmxError): Promise<Buffer> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return Promise.reject(notTerminal ?? new KmxError('no terminal to ask for a password on', { exitCode: 22 }));
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
        if (ENTER.has(byte)) {
          typedAhead = input.slice(byte === 0x0d && input[i + 1] === 0x0a ? i + 2 : i + 1);
          return finish();
        }
        if (byte === CTRL_C) return finish(new KmxError('interrupted', { exitCode: 130 }));
        if (byte === CTRL_D && bytes.length === 0) return finish(new KmxError('no password given (end of input)', { exitCode: 22 }));
        if (ERASE.has(byte)) eraseCharacter(bytes);
        else if (byte === CTRL_U) bytes.length = 0;
        else if (!IGNORED.has(byte) && byte !== CTRL_D) bytes.push(byte);
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
