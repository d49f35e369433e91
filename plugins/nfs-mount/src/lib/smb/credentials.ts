import { constants, readSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { KmxError, promptHidden } from '@kmx/core';

// The credentials for a share, as mount.cifs users keep them: a credentials file
// (username=, password=, domain=), the environment (USER, PASSWD, PASSWD_FD, PASSWD_FILE), or a question on the
// terminal; with --sec krb5 the Kerberos ticket cache instead of a password. The password is
// kept as bytes in memory only: never in arguments, records, logs or mount options.

export interface SmbCredentials {
  user: string;
  domain: string;
  password: Buffer;
  kerberos: boolean;
}

/** libsmbclient hands its auth callback 256-byte buffers (Samba's fstring), NUL included. */
export const MAX_FIELD_BYTES = 255;

const MAX_FILE_BYTES = 16 * 1024;

export interface CredentialSources {
  user?: string | undefined;
  domain?: string | undefined;
  credentialsFile?: string | undefined;
  kerberos?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Asks for the password; by default on the terminal, without echo. */
  ask?: (prompt: string) => Promise<Buffer>;
  /** The caller's uid, who must own the credentials file. */
  uid?: number;
}

/**
 * Reads a credentials file in mount.cifs's format. Refused unless it is a regular file of the
 * caller's with no access for group or others: it is opened without following a symlink and
 * checked on the open descriptor, so what is checked is what is read.
 */
export async function readCredentialsFile(path: string, uid = process.getuid?.() ?? 0): Promise<Partial<SmbCredentials>> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new KmxError(`--credentials ${path} is a symbolic link`, { hint: 'name the file itself', exitCode: 1 });
    throw new KmxError(`--credentials ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code)}`, { exitCode: 1 });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new KmxError(`--credentials ${path} is not a regular file`, { exitCode: 1 });
    if (st.uid !== uid) throw new KmxError(`--credentials ${path} is not yours (owner uid ${st.uid})`, { hint: 'a credentials file must be owned by you and have mode 0600', exitCode: 1 });
    if ((st.mode & 0o077) !== 0) throw new KmxError(`--credentials ${path} is readable or writable by others (mode 0${(st.mode & 0o777).toString(8)})`, { hint: `chmod 600 ${path}`, exitCode: 1 });
    if (st.size > MAX_FILE_BYTES) throw new KmxError(`--credentials ${path} is too large for a credentials file`, { exitCode: 1 });
    return parseCredentials(await handle.readFile());
  } finally {
    await handle.close();
  }
}

/** mount.cifs's format: key=value lines, keys username/user, password/pass, domain/dom; the value is the rest of the line. */
export function parseCredentials(content: Buffer): Partial<SmbCredentials> {
  const out: Partial<SmbCredentials> = {};
  let start = 0;
  while (start < content.length) {
    let end = content.indexOf(0x0a, start);
    if (end < 0) end = content.length;
    let line = content.subarray(start, end);
    start = end + 1;
    if (line.at(-1) === 0x0d) line = line.subarray(0, -1);
    const eq = line.indexOf(0x3d);
    if (eq < 0) continue;
    const key = line.subarray(0, eq).toString('utf8').trim().toLowerCase();
    const value = line.subarray(eq + 1);
    if (key === 'username' || key === 'user') out.user = value.toString('utf8');
    else if (key === 'password' || key === 'pass') out.password = Buffer.from(value);
    else if (key === 'domain' || key === 'dom' || key === 'workgroup') out.domain = value.toString('utf8');
  }
  return out;
}

/**
 * One line from an inherited descriptor, a byte at a time as mount.cifs reads it (what follows
 * the newline stays unread). A pipe or socket may be non-blocking: then it waits for data.
 */
function readLineFromFd(fd: number): Buffer {
  const line: number[] = [];
  const byte = Buffer.alloc(1);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (line.length <= MAX_FILE_BYTES) {
    let n: number;
    try {
      n = readSync(fd, byte, 0, 1, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 10);
      continue;
    }
    if (n === 0 || byte[0] === 0x0a) break;
    line.push(byte[0]!);
  }
  return Buffer.from(line);
}

/**
 * The password as mount.cifs reads PASSWD_FD (a descriptor number) and PASSWD_FILE (a path):
 * the bytes up to the first newline. Read as the caller, who names them: no privilege is involved.
 */
async function firstLine(source: string, variable: string): Promise<Buffer> {
  let content: Buffer;
  try {
    if (variable === 'PASSWD_FD') {
      if (!/^\d{1,4}$/.test(source)) throw new KmxError(`${variable}=${source} is not a file descriptor number`, { exitCode: 22 });
      return readLineFromFd(Number(source));
    } else {
      content = await readFile(source);
    }
  } catch (err) {
    if (err instanceof KmxError) throw err;
    throw new KmxError(`${variable}: cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { exitCode: 1 });
  }
  const end = content.indexOf(0x0a);
  return content.subarray(0, end < 0 ? Math.min(content.length, MAX_FILE_BYTES) : end);
}

function checkField(what: string, value: Buffer): void {
  if (value.includes(0)) throw new KmxError(`the ${what} has a NUL byte`, { exitCode: 22 });
  if (value.length > MAX_FIELD_BYTES) throw new KmxError(`the ${what} is longer than ${MAX_FIELD_BYTES} bytes`, { exitCode: 22 });
}

/**
 * The credentials, from the first source that has them: --user/--domain, then the credentials
 * file, then USER (mount.cifs also takes `user%password` there), PASSWD, PASSWD_FD and
 * PASSWD_FILE (mount.cifs's order), then a question.
 */
export async function gatherCredentials(sources: CredentialSources): Promise<SmbCredentials> {
  const env = sources.env ?? process.env;
  const fromFile = sources.credentialsFile ? await readCredentialsFile(sources.credentialsFile, sources.uid) : {};
  let user = sources.user ?? fromFile.user;
  let password = fromFile.password;
  if (user === undefined && env.USER) {
    const percent = env.USER.indexOf('%');
    user = percent < 0 ? env.USER : env.USER.slice(0, percent);
    if (percent >= 0) password ??= Buffer.from(env.USER.slice(percent + 1));
  }
  if (user === undefined) throw new KmxError('no user name given', { hint: 'give --user NAME (or username= in a --credentials file)', exitCode: 22 });
  const domain = sources.domain ?? fromFile.domain ?? '';
  checkField('user name', Buffer.from(user));
  checkField('domain', Buffer.from(domain));
  if (sources.kerberos) return { user, domain, password: Buffer.alloc(0), kerberos: true };
  if (password === undefined && env.PASSWD !== undefined) password = Buffer.from(env.PASSWD);
  if (password === undefined && env.PASSWD_FD !== undefined) password = await firstLine(env.PASSWD_FD, 'PASSWD_FD');
  if (password === undefined && env.PASSWD_FILE !== undefined) password = await firstLine(env.PASSWD_FILE, 'PASSWD_FILE');
  if (password === undefined) {
    const ask = sources.ask ?? ((prompt: string) => promptHidden(prompt, new KmxError('no password given, and no terminal to ask for one on', { hint: 'use --credentials FILE (mode 0600), or PASSWD in the environment', exitCode: 22 })));
    password = await ask(`Password for ${domain ? `${domain}\\` : ''}${user}: `);
  }
  checkField('password', password);
  return { user, domain, password, kerberos: false };
}
