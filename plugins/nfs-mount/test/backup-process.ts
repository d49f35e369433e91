import { spawn } from 'node:child_process';
import { kmxBin } from '@kmx/core/testing';

/** `kmx nfs backup ARGS` running beside the test, its output gathered as it comes. */
export interface BackupProcess {
  out(): string;
  err(): string;
  /** Its exit code, null while it runs. */
  exitCode(): number | null;
  /** Resolves to the exit code once it has exited. */
  readonly exited: Promise<number | null>;
  /** SIGINT (what a user's Ctrl-C sends), then its exit code. */
  stop(): Promise<number | null>;
}

export function startBackup(args: readonly string[], env: NodeJS.ProcessEnv = process.env): BackupProcess {
  const child = spawn(process.execPath, [kmxBin(), 'nfs', 'backup', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    out: () => out,
    err: () => err,
    exitCode: () => child.exitCode,
    exited,
    stop: () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}
