import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SysError } from '../errors/index.js';
import type { RunResult } from './processes.js';
import { mountsUnder } from './temp.js';

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

/**
 * How every kmx command fails: one line on stderr starting `kmx: ` and matching `pattern`, no
 * stack trace, a non-zero exit (exactly `exitCode` when given).
 */
export function assertOneLineError(result: RunResult, pattern: RegExp, exitCode?: number): void {
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', /^kmx: /);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  assert.notEqual(result.code, 0, `a non-zero exit (stdout: ${result.stdout.trim()})`);
  if (exitCode !== undefined) assert.equal(result.code, exitCode, `exit code (stderr: ${result.stderr.trim()})`);
}

/** Processes other than this one whose command line mentions `text`, but for those `except` matches. */
export async function processesMentioning(text: string, except?: RegExp): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    if (cmdline.includes(text) && !except?.test(cmdline)) found.push(`${pid}: ${cmdline}`);
  }
  return found;
}

export interface CleanFailureOptions {
  /** The exit code expected. */
  exitCode?: number;
  /** How long processes of the failed command (a serving child, a --via command) may take to go. */
  settleMs?: number;
  /** Processes that mention the directory and belong to the test (its own peers). */
  exceptProcesses?: RegExp;
}

/** assertOneLineError, and the command left nothing under `dir`: nothing mounted, no process mentioning it. */
export async function assertCleanFailure(result: RunResult, dir: string, pattern: RegExp, options: CleanFailureOptions = {}): Promise<void> {
  assertOneLineError(result, pattern, options.exitCode);
  assert.deepEqual(await mountsUnder(dir), [], 'nothing mounted');
  const deadline = Date.now() + (options.settleMs ?? 0);
  while (Date.now() < deadline && (await processesMentioning(dir, options.exceptProcesses)).length > 0) await sleep(100);
  assert.deepEqual(await processesMentioning(dir, options.exceptProcesses), [], 'no process left');
}
