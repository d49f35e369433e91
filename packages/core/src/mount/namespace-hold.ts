import { spawn } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { KmxError, SysError, toSysError } from '../errors/index.js';
import { defaultHelperPath, helperMissing, parseHelperReport, type HelperOptions } from './nshelper.js';

/**
 * A kmx-nshelper process parked in a mount namespace. Paths below `root` are resolved in that
 * namespace (by the kernel, through the helper's /proc/PID/root), so Node can open files there,
 * such as an nsfs bind mount in a namespace that has no process, without entering it.
 */
export interface MountNamespaceHold {
  readonly pid: number;
  /** `/proc/PID/root` of the helper: `${root}/etc/hostname` is that namespace's /etc/hostname. */
  readonly root: string;
  /** Lets the helper go and waits for it to exit (idempotent). */
  release(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Parks a helper in the mount namespace that the nsfs file `nsPath` stands for (any
 * /proc/PID/ns/mnt, an fd's /proc/self/fd/N, or a bind-mounted namespace) until `release()`.
 * Rejects with the SysError the helper reported (setns EINVAL for a file that is not a mount
 * namespace, EPERM without CAP_SYS_ADMIN over it).
 */
export async function holdMountNamespace(nsPath: string, options: HelperOptions = {}): Promise<MountNamespaceHold> {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO at that path must not stall the event loop.
    fd = openSync(nsPath, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (err) {
    throw toSysError(err);
  }
  const path = options.helperPath ?? defaultHelperPath();
  try {
    const child = spawn(path, ['hold'], { env: {}, stdio: ['pipe', 'pipe', 'pipe', fd] });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const release = async (): Promise<void> => {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    };
    await new Promise<void>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(SysError.of('ETIMEDOUT', 'kmx-nshelper hold'));
      }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('ready\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(helperMissing(path, err));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        reject(parseHelperReport(stderr) ?? new KmxError(`kmx-nshelper hold exited (${code ?? signal}) before it was ready`));
      });
    });
    child.stdout?.resume(); // nothing more comes; keep the pipe drained regardless
    return { pid: child.pid ?? -1, root: `/proc/${child.pid}/root`, release };
  } finally {
    closeSync(fd); // the helper has its own copy
  }
}
