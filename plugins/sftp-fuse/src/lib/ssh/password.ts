import { KmxError, promptHidden } from '@kmx/core';

/** Reads a password from the terminal without echo (ssh's prompt, on stderr; core's prompt). */
export async function promptPassword(prompt: string): Promise<string> {
  const noTerminal = new KmxError('no key was accepted and there is no terminal to ask for a password', { hint: 'use a key (-i KEY or ssh-agent), or -o password_stdin to read the password from standard input' });
  return (await promptHidden(prompt, noTerminal)).toString('utf8');
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
