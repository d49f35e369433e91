import assert from 'node:assert/strict';
import { SysError } from '../errors/index.js';

export interface ExpectedSysError {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

function check(caught: unknown, expected: ExpectedSysError): SysError {
  assert.ok(caught instanceof SysError, `not a SysError: ${String(caught)}`);
  assert.deepEqual({ code: caught.code, errno: caught.errno, syscall: caught.syscall, path: caught.path }, { path: undefined, ...expected });
  return caught;
}

/** Asserts that `fn` throws a SysError with exactly this errno, call and path; returns it. */
export function throwsSysError(fn: () => unknown, expected: ExpectedSysError): SysError {
  let caught: unknown;
  assert.throws(fn, (err: unknown) => ((caught = err), true));
  return check(caught, expected);
}

/** Asserts that `promise` rejects with a SysError with exactly this errno, call and path; returns it. */
export async function rejectsSysError(promise: Promise<unknown>, expected: ExpectedSysError): Promise<SysError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => ((caught = err), true));
  return check(caught, expected);
}
