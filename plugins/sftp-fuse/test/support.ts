import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertCleanFailure as assertCleanFailureIn, kmxBin, type RunResult } from '@kmx/core/testing';
import { sftpOverStream } from '../src/lib/protocol/adapter.js';
import { SftpSession } from '../src/lib/protocol/session.js';
import { startSshd, type TestSshd } from '../src/testing/index.js';

/** OpenSSH's sftp-server: SFTP v3 on stdin/stdout, the raw peer of --via. */
export const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/** assertCleanFailure, with time for a --via command to go, and the test's own sshd left alone. */
export function assertCleanFailure(result: RunResult, dir: string, pattern: RegExp): Promise<void> {
  return assertCleanFailureIn(result, dir, pattern, { settleMs: 5_000, exceptProcesses: /sshd_config/ });
}

/** Runs `body` with a throwaway sshd on loopback, always stopped afterwards. */
export async function withSshd<T>(dir: string, body: (sshd: TestSshd) => Promise<T>, options: { password?: boolean } = {}): Promise<T> {
  const sshd = await startSshd(join(dir, 'sshd'), options);
  try {
    return await body(sshd);
  } finally {
    await sshd.stop();
  }
}

/** `kmx sftp serve --root ROOT ARGS` with its stdin and stdout piped; its stderr is the test's. */
export function spawnServe(root: string, args: readonly string[] = []): ChildProcessByStdio<Writable, Readable, null> {
  return spawn(process.execPath, [kmxBin(), 'sftp', 'serve', '--root', root, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}

/**
 * Runs `body` with a session (ssh2's client) of `kmx sftp serve` on the other end of a pipe.
 * Then the server must end cleanly when its input ends (it is killed if it has not in 5 s).
 */
export async function withServe<T>(root: string, args: readonly string[], body: (s: SftpSession) => Promise<T>): Promise<T> {
  const child = spawnServe(root, args);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const { sftp } = sftpOverStream(child.stdout, child.stdin);
    await new Promise<void>((resolve) => sftp.once('ready', () => resolve()));
    return await body(new SftpSession(sftp, () => child.stdin.end()));
  } finally {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, 'serve ends cleanly when its input ends');
  }
}

/** Polls `check` until it is true (at most `timeoutMs`). */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * `sh -c script` with stdin on /dev/null (a stdin pipe the script never reads can fail a
 * test with EPIPE when the script exits first); killed after `timeoutMs`.
 */
export function shell(script: string, options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return execute('/bin/sh', ['-c', script], options);
}

/** `kmx ARGS` as a user would run it, optionally typing `input` (a program that exits before reading it is fine). */
export function kmx(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return execute(process.execPath, [kmxBin(), ...args], options);
}

/** Runs a program to its end; stdin is /dev/null unless `input` is given (EPIPE on it is ignored). */
export function execute(program: string, args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // Its own process group: a timeout kills whatever it started too (a blocked grandchild
    // would otherwise hold the pipes, and this test process, open).
    const child = spawn(program, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: options.env ?? process.env, detached: true });
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const killGroup = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone
      }
    };
    const timer = setTimeout(killGroup, options.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Output still in the pipes arrives before 'close'; a grandchild holding them is not waited for.
      const done = (): void => resolve({ code, signal, stdout, stderr });
      const grace = setTimeout(() => {
        killGroup();
        child.stdout!.destroy();
        child.stderr!.destroy();
        done();
      }, 2000);
      child.once('close', () => {
        clearTimeout(grace);
        done();
      });
    });
  });
}
