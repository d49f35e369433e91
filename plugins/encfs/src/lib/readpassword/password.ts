import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { KmxError, errnoOf, promptHidden } from '@kmx/core';
import { ExitCode } from '../exitcodes/index.js';
import { StdinLines } from './stdin.js';

/** Where a password comes from: a file, a command, else the terminal (hidden) or stdin. */
export interface PasswordSource {
  passfile?: string | undefined;
  extpass?: string | undefined;
}

const stdinLines = new StdinLines();

/**
 * Reads one password. With neither --passfile nor --extpass it is asked for on the terminal
 * without echo (twice with `confirm`), or, when stdin is not a terminal, read as the next
 * line of stdin (as gocryptfs does), so scripts can pipe it in.
 */
export async function readPassword(source: PasswordSource, options: { prompt?: string; confirm?: boolean; what?: string } = {}): Promise<Buffer> {
  const what = options.what ?? 'password';
  let password: Buffer;
  if (source.passfile !== undefined) password = await fromFile(source.passfile);
  else if (source.extpass !== undefined) password = await fromCommand(source.extpass);
  else if (process.stdin.isTTY) {
    password = await promptHidden(options.prompt ?? 'Password: ');
    if (options.confirm) {
      const again = await promptHidden('Repeat: ');
      if (!again.equals(password)) throw new KmxError(`the two ${what}s differ`, { exitCode: ExitCode.passwordEmpty, hint: 'type the same one twice' });
    }
  } else {
    const line = await stdinLines.next();
    if (line === undefined) throw new KmxError(`no ${what} given: stdin ended`, { exitCode: ExitCode.passwordEmpty, hint: 'pipe it in, or use --passfile FILE or --extpass CMD' });
    password = Buffer.from(line, 'utf8');
  }
  if (password.length === 0) throw new KmxError(`the ${what} is empty`, { exitCode: ExitCode.passwordEmpty, hint: 'an empty password is not allowed' });
  return password;
}

async function fromFile(file: string): Promise<Buffer> {
  let text: Buffer;
  try {
    text = await readFile(file);
  } catch (err) {
    const errno = errnoOf(err);
    const why = errno === 2 ? 'it does not exist' : errno === 13 ? 'permission denied' : errno === 21 ? 'it is a directory' : String(err);
    throw new KmxError(`cannot read the password file ${file}: ${why}`, { exitCode: ExitCode.passwordEmpty });
  }
  const newline = text.indexOf(0x0a);
  if (newline >= 0 && newline < text.length - 1) process.stderr.write(`kmx enc: warning: ${file} has more than one line; only the first is the password\n`);
  return newline >= 0 ? text.subarray(0, newline) : text;
}

/** Runs CMD with /bin/sh; its stdout, less one trailing newline, is the password. */
function fromCommand(command: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', (err) => reject(new KmxError(`the --extpass command could not run: ${err.message}`, { exitCode: ExitCode.passwordEmpty })));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(new KmxError(`the --extpass command failed (${signal ?? `exit code ${code}`}): ${command}`, { exitCode: ExitCode.passwordEmpty }));
        return;
      }
      const out = Buffer.concat(chunks);
      resolve(out.length > 0 && out[out.length - 1] === 0x0a ? out.subarray(0, out.length - 1) : out);
    });
  });
}
