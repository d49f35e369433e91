import { spawn } from 'node:child_process';
import { KmxError } from '@kmx/core';
import { shellQuote, watchComplaints } from '../child/shell.js';
import type { SftpSession } from '../protocol/session.js';
import { startSession } from './session-start.js';

/** `{host}` in a --via command line becomes the host, quoted for the shell. */
export function viaCommandLine(template: string, host: string): string {
  return template.replaceAll('{host}', shellQuote(host));
}

/**
 * SFTP spoken directly over a command's stdin/stdout, no SSH (the Qubes qrexec model, or
 * sftp-server itself). The command runs under /bin/sh; what it prints on stderr goes to the
 * log, and its last line explains a failure to start.
 */
export function connectVia(commandLine: string, log: (line: string) => void, timeoutMs: number): Promise<SftpSession> {
  const child = spawn('/bin/sh', ['-c', commandLine], { stdio: ['pipe', 'pipe', 'pipe'] });
  const complaints = watchComplaints(child.stderr, log, 'via');
  const stop = (): void => {
    child.stdin.destroy();
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    // A command that ignores SIGTERM (or is stopped) is not left behind.
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, 2000).unref();
  };
  const { session, started, fail } = startSession(child.stdout, child.stdin, {
    stop,
    timeoutMs,
    error: (why) => new KmxError(`the --via command ${why}${complaints.last() ? `: ${complaints.last()}` : ''}`, { hint: `check the command: ${commandLine}` }),
  });
  child.on('error', (err) => fail(`could not start (${err.message})`));
  // 'close' comes after stderr has drained, so the reason is among the complaints by then.
  child.on('close', (code, signal) => {
    fail(`exited (${signal ?? `exit code ${code}`}) before speaking SFTP`);
    session.close(`the --via command exited (${signal ?? `exit code ${code}`})`);
  });
  return started.then((s) => {
    complaints.established();
    return s;
  });
}
