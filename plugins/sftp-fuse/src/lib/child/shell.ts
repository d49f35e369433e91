import type { Readable } from 'node:stream';

// The commands kmx sftp runs under /bin/sh (--via, ProxyCommand, ProxyJump's ssh, ssh_command).

/** `text` as one word for /bin/sh. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** A command's stderr: its last line, for the error if it fails; once it works, every line goes to the log. */
export interface Complaints {
  /** The last non-empty line so far ('' if none). */
  last(): string;
  /** The command works: from now on its lines go to the log. */
  established(): void;
}

/** Until the command works, its complaints belong in the error message, not in the log. */
export function watchComplaints(stderr: Readable, log: (line: string) => void, prefix: string): Complaints {
  let last = '';
  let up = false;
  stderr.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n').map((l) => l.trim()).filter(Boolean)) {
      last = line;
      if (up) log(`${prefix}: ${line}`);
    }
  });
  return {
    last: () => last,
    established: () => {
      up = true;
    },
  };
}
