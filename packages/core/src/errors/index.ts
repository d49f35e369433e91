import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

/**
 * The one error type kmx reports to users. Everything a command prints on failure is a
 * KmxError's message (one line) plus, optionally, its hint (what to do about it).
 */
export class KmxError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KmxError';
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad input from the user (a flag, an argument): exit code 2, like oclif's own parse errors. */
export class UsageError extends KmxError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: 2 });
    this.name = 'UsageError';
  }
}

const errnoByName: Readonly<Record<string, number>> = osConstants.errno as Record<string, number>;
let nameByErrno: Map<number, string> | undefined;
let messageByErrno: Map<number, string> | undefined;

/** 'ENOENT' for 2; `E<n>` for numbers nobody named. */
export function errnoName(errno: number): string {
  if (!nameByErrno) {
    nameByErrno = new Map();
    for (const [name, value] of Object.entries(errnoByName)) {
      // EWOULDBLOCK and EDEADLOCK alias EAGAIN and EDEADLK: keep the first, canonical name.
      if (!nameByErrno.has(value)) nameByErrno.set(value, name);
    }
  }
  return nameByErrno.get(errno) ?? `E${errno}`;
}

/** 2 for 'ENOENT'; undefined for names this platform lacks. */
export function errnoNumber(name: string): number | undefined {
  return errnoByName[name];
}

/** The C library's description of an errno ("no such file or directory"). */
export function errnoMessage(errno: number): string {
  if (!messageByErrno) {
    messageByErrno = new Map();
    for (const [negative, [, message]] of getSystemErrorMap()) messageByErrno.set(-negative, message);
  }
  return messageByErrno.get(errno) ?? errnoName(errno);
}

/**
 * A failed system call: carries the errno name and number, the call and the path it was about.
 * Thrown by the libc layer and by anything that converts a Node fs error, so a FUSE
 * operation or a command can tell ENOENT from EACCES without parsing text.
 */
export class SysError extends KmxError {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  readonly path: string | undefined;

  constructor(errno: number, syscall: string, path?: string, options: { hint?: string; detail?: string } = {}) {
    const where = path === undefined ? syscall : `${syscall} ${path}`;
    const detail = options.detail ? `: ${options.detail}` : '';
    super(`${where}: ${errnoMessage(errno)} (${errnoName(errno)})${detail}`, { hint: options.hint });
    this.name = 'SysError';
    this.errno = errno;
    this.code = errnoName(errno);
    this.syscall = syscall;
    this.path = path;
  }

  /** A SysError named by its errno name: `SysError.of('ENOENT', 'open', p)`. */
  static of(code: string, syscall: string, path?: string, options?: { hint?: string; detail?: string }): SysError {
    const errno = errnoNumber(code);
    if (errno === undefined) throw new TypeError(`unknown errno name ${code}`);
    return new SysError(errno, syscall, path, options);
  }
}

interface NodeSystemError {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  path?: unknown;
}

/** The positive errno an error stands for, or undefined when it is not a system error. */
export function errnoOf(err: unknown): number | undefined {
  if (err instanceof SysError) return err.errno;
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as NodeSystemError;
  if (typeof e.code === 'string' && errnoByName[e.code] !== undefined) return errnoByName[e.code];
  if (typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
  return undefined;
}

/** Node's fs errors (code 'ENOENT', errno -2) as SysErrors; anything else unchanged. */
export function toSysError(err: unknown): unknown {
  if (err instanceof SysError) return err;
  const errno = errnoOf(err);
  if (errno === undefined) return err;
  const e = err as NodeSystemError;
  const syscall = typeof e.syscall === 'string' ? e.syscall : 'system call';
  const path = typeof e.path === 'string' ? e.path : undefined;
  return new SysError(errno, syscall, path);
}
