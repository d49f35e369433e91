import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { KmxError, SysError } from '../errors/index.js';
import { MNT_DETACH } from '../libc/constants.js';
import { umount2 } from '../libc/mount.js';
import { mountAt, readMountinfo, type MountInfo } from './mountinfo.js';
import { readMountRecords } from './registry.js';
import { stopLingeringServer } from './stop-server.js';

const run = promisify(execFile);

/**
 * The absolute path of a mountpoint as mountinfo spells it, without touching the mount
 * itself: realpath of a dead FUSE mount fails with ENOTCONN, so only its parent is resolved.
 */
export async function canonicalMountpoint(path: string): Promise<string> {
  const absolute = resolve(path);
  if (absolute === '/') return absolute;
  const parent = await realpath(dirname(absolute)).catch(() => dirname(absolute));
  return join(parent, basename(absolute));
}

/** The kmx plugin a mountinfo line belongs to ('passthrough' for fuse.kmx-passthrough), if any. */
export function kmxPluginOf(mount: MountInfo): string | undefined {
  const match = /^fuse\.kmx-(.+)$/.exec(mount.fstype);
  return match?.[1];
}

/**
 * How long an unmount that finds the mount busy is tried again: a stat or a listing of the
 * mounts (a file manager's, `kmx mounts`', kmx ui's) holds the mount for a moment, and an
 * unmount that meets one fails with EBUSY though nothing keeps it open.
 */
const BUSY_RETRY_MS = [25, 50, 100, 200, 400];

/** Unmounts a mountpoint. Root calls umount2; everyone else goes through setuid fusermount3. */
export async function unmountPath(mountpoint: string, options: { lazy?: boolean } = {}): Promise<void> {
  for (const pause of [...BUSY_RETRY_MS, -1]) {
    const busy = await unmountOnce(mountpoint, options);
    if (!busy) return;
    if (pause < 0) throw busy;
    await sleep(pause);
  }
}

/** One try: undefined when unmounted, the error when the mount was busy; other errors are thrown. */
async function unmountOnce(mountpoint: string, options: { lazy?: boolean }): Promise<KmxError | undefined> {
  if (process.getuid?.() === 0) {
    try {
      umount2(mountpoint, options.lazy ? MNT_DETACH : 0);
    } catch (err) {
      if (err instanceof SysError && err.code === 'EBUSY') {
        return new SysError(err.errno, 'umount', mountpoint, { hint: 'a process still uses it: close it, or unmount with --lazy' });
      }
      throw err;
    }
    return undefined;
  }
  const args = ['-u', ...(options.lazy ? ['-z'] : []), '--', mountpoint];
  let lastError: unknown;
  for (const program of ['fusermount3', 'fusermount']) {
    try {
      await run(program, args, { env: { ...process.env, LC_ALL: 'C' } });
      return undefined;
    } catch (err) {
      lastError = err;
      if ((err as { code?: unknown }).code !== 'ENOENT') break; // the program ran and refused
    }
  }
  const stderr = String((lastError as { stderr?: unknown }).stderr ?? '').trim().split('\n')[0] ?? '';
  // The reason is what follows the path (which may hold any word, busy included).
  const busy = stderr.endsWith(': Device or resource busy');
  const error = new KmxError(`cannot unmount ${mountpoint}: ${stderr || String(lastError)}`, {
    hint: busy ? 'a process still uses it: close it, or unmount with --lazy' : undefined,
  });
  if (busy) return error;
  throw error;
}

/**
 * Unmounts a kmx mount (and nothing else): by path, including a stale one. Unless lazy (which
 * lets those still using the mount go on), its server is stopped too if it outlives the unmount.
 */
export async function unmountKmx(path: string, options: { lazy?: boolean } = {}): Promise<MountInfo> {
  const mountpoint = await canonicalMountpoint(path);
  const mount = mountAt(await readMountinfo(), mountpoint);
  if (!mount) throw new KmxError(`${mountpoint} is not a mount point`, { hint: 'kmx mounts lists the mounts kmx made' });
  if (!kmxPluginOf(mount)) {
    throw new KmxError(`${mountpoint} is not a kmx mount (it is ${mount.fstype} from ${mount.source})`, { hint: 'use umount(8) for other mounts' });
  }
  const server = (await readMountRecords()).find((r) => r.device === mount.device && r.mountpoint === mountpoint);
  await unmountPath(mountpoint, options);
  if (server && !options.lazy) await stopLingeringServer(server);
  return mount;
}
