import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { KmxError } from '@kmx/core';

/** Larger than any list an owner writes by hand. */
const MAX_BYTES = 1024 * 1024;
const STICKY = 0o1000;

/**
 * A file the agent's owner writes and the agent obeys (which sysctl keys may be written, which
 * certificates are revoked). It must be a regular file owned by root or by the agent's user,
 * writable by nobody else, in a directory where nobody else can replace it. Failures are one
 * line naming the file.
 */
export function readOwnerFile(path: string, role: string): { text: string; key: string } {
  const fail = (why: string, hint?: string): never => {
    throw new KmxError(`the ${role} ${path} ${why}`, hint ? { hint } : {});
  };
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    return fail(`cannot be read: ${(err as { code?: string }).code ?? String(err)}`);
  }
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    const self = BigInt(process.geteuid!());
    if (!st.isFile()) fail('is not a regular file');
    if (st.uid !== 0n && st.uid !== self) fail(`belongs to uid ${st.uid}`, 'it must belong to root or to the user the agent runs as');
    if (st.mode & 0o022n) fail(`may be written by others (mode ${(Number(st.mode) & 0o7777).toString(8).padStart(4, '0')})`, `chmod go-w ${path}`);
    const dir = fs.statSync(dirname(fs.realpathSync(path)), { bigint: true });
    if (dir.mode & 0o022n && !(dir.mode & BigInt(STICKY))) fail('is in a directory others may write to', 'keep it in a directory only its owner can change');
    if (st.size > BigInt(MAX_BYTES)) fail(`is larger than ${MAX_BYTES} bytes`);
    return { text: fs.readFileSync(fd, 'utf8'), key: identity(st) };
  } finally {
    fs.closeSync(fd);
  }
}

function identity(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/**
 * An owner file read again whenever it changes (a stat per use, a few µs), so that a change
 * takes effect at the next request without a restart. A file that is missing, changed into
 * something the agent may not trust, or no longer parses makes `current()` throw: callers
 * fail closed.
 */
export class WatchedOwnerFile<T> {
  private key = '';
  private value: T | undefined;
  private error: Error | undefined;

  /** Reads it now: a file that cannot be used is an error at start (one line). */
  constructor(readonly path: string, private readonly role: string, private readonly parse: (text: string, path: string) => T, private readonly missing?: T) {
    this.refresh();
    if (this.error) throw this.error;
  }

  private refresh(): void {
    let key: string;
    try {
      key = identity(fs.statSync(this.path, { bigint: true }));
    } catch (err) {
      if (this.missing !== undefined && (err as { code?: string }).code === 'ENOENT') {
        this.key = 'missing';
        this.value = this.missing;
        this.error = undefined;
        return;
      }
      key = `error ${(err as { code?: string }).code ?? String(err)}`;
    }
    if (key === this.key) return;
    try {
      const file = readOwnerFile(this.path, this.role);
      this.value = this.parse(file.text, this.path);
      this.error = undefined;
      this.key = file.key;
    } catch (err) {
      this.value = undefined;
      this.error = err instanceof Error ? err : new Error(String(err));
      this.key = key;
    }
  }

  /** The file's meaning now; throws (one line) while it cannot be used. */
  current(): T {
    this.refresh();
    if (this.error) throw this.error;
    return this.value as T;
  }
}
