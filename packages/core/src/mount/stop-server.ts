import { readdir, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MountRecord } from './registry.js';

/** Whether `pid` still runs and holds /dev/fuse open: a FUSE server, not a process that reused its pid. */
async function servesFuse(pid: number): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  for (const fd of fds) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === '/dev/fuse') return true;
  return false;
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) if (!(await servesFuse(pid))) return true;
  return !(await servesFuse(pid));
}

/**
 * How long a server may take to end by itself after its unmount. A loaded machine has seen a
 * server take over a second; one signalled meanwhile, already tearing down with its signal
 * handlers gone, died of the SIGTERM instead of exiting 0.
 */
const OWN_END_MS = 3000;

/**
 * After its mount was unmounted here, a server normally ends at once. One that goes on serves
 * a copy of the mount elsewhere (a mount namespace made while it was mounted): it is told to stop
 * (SIGTERM), which ends its session and cuts those copies off. Waits a few seconds for it to go.
 */
export async function stopLingeringServer(record: Pick<MountRecord, 'pid'>): Promise<void> {
  if (await goneWithin(record.pid, OWN_END_MS)) return;
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return; // gone meanwhile, or not ours to stop
  }
  await goneWithin(record.pid, 5000);
}
