import { rm } from 'node:fs/promises';
import { mountFilesystem, type ActiveMount, type MountRequest } from '../fuse/mount.js';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const exitNow = (): never => process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);

/**
 * Mounts and serves in this process until the mount ends: unmounted from outside, or a
 * signal (SIGINT, SIGTERM, SIGHUP) makes it unmount itself. A busy mount is detached lazily
 * so that a signal always ends the process. Also unmounts on an uncaught exception, so a bug
 * never leaves a stale mount. `onReady` runs once the mount answers.
 */
export async function serveMount(request: MountRequest, onReady?: (mount: ActiveMount) => void): Promise<void> {
  let active: ActiveMount | undefined;
  let stopRequested = false;
  const stop = (): void => {
    if (stopRequested && active) {
      void active.unmount({ lazy: true }).catch(() => undefined); // a second signal: don't wait for anyone
      return;
    }
    stopRequested = true;
    if (!active) return; // still mounting: stop as soon as it is up
    const mount = active;
    mount.unmount().catch(() => mount.unmount({ lazy: true })).catch((err: unknown) => request.log?.(`unmount failed: ${err instanceof Error ? err.message : String(err)}`));
  };
  const crash = (err: unknown): void => {
    process.stderr.write(`kmx: internal error, unmounting: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 70; // EX_SOFTWARE
    if (active) void active.unmount({ lazy: true }).catch(() => undefined).finally(() => process.exit(70));
    else process.exit(70);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  process.on('uncaughtException', crash);
  try {
    active = await mountFilesystem(request);
    onReady?.(active);
    if (stopRequested) {
      stopRequested = false;
      stop();
    }
    await active.ended;
    // The mount is gone and the process on its way out: a stop signal now (a second one from
    // whoever asked first, say) ends it as cleanly as the first would have, not by the signal.
    for (const signal of STOP_SIGNALS) process.on(signal, exitNow);
    // A daemon's log has served its purpose once the mount ended cleanly.
    if (request.logFile && process.exitCode === undefined) await rm(request.logFile, { force: true });
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
    process.off('uncaughtException', crash);
  }
}
