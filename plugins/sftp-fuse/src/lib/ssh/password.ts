import { KmxError } from '@kmx/core';

/** Reads a password from the terminal without echo (ssh's prompt, on stderr). */
export function promptPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    return Promise.reject(new KmxError('no key was accepted and there is no terminal to ask for a password', { hint: 'use a key (-i KEY or ssh-agent), or -o password_stdin to read the password from standard input' }));
  }
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.resume();
    let text = '';
    const done = (err?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new KmxError('interrupted'));
        if (ch === '\u0004' && text === '') return done(new KmxError('no password given'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    input.on('data', onData);
  });
}

/** The first line of standard input (sshfs -o password_stdin). */
export function readPasswordLine(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline >= 0) finish(text.slice(0, newline));
    };
    const finish = (line: string): void => {
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
      resolve(line.replace(/\r$/, ''));
    };
    const onEnd = (): void => (text ? finish(text) : reject(new KmxError('-o password_stdin: standard input is empty')));
    process.stdin.on('data', onData);
    process.stdin.once('end', onEnd);
    process.stdin.resume();
  });
}
