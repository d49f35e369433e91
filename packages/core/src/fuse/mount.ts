import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { KmxError, SysError, errnoOf } from '../errors/index.js';
import { keepFreedMemory } from '../libc/memory.js';
import { userById } from '../libc/users.js';
import { deviceString, mountAt, readMountinfo } from '../mount/mountinfo.js';
import { removeMountRecord, writeMountRecord } from '../mount/registry.js';
import { canonicalMountpoint, kmxPluginOf, unmountPath } from '../mount/unmount.js';
import type { EngineName } from './engine.js';
import { selectEngine } from './engines/index.js';
import { mountinfoSafe, type FuseOptions } from './options.js';
import type { FileSystem } from './types.js';

export interface MountRequest {
  filesystem: FileSystem;
  mountpoint: string;
  /** The plugin serving it: the mount's fstype becomes fuse.kmx-<plugin>. */
  plugin: string;
  /** What is mounted, shown as the mount's source: a directory, user@host:/path, … */
  source: string;
  options?: FuseOptions;
  /** An engine by name; default: $KMX_FUSE_ENGINE, else the fastest available. */
  engine?: string;
  /** Where operation failures are reported (one line each); default stderr. */
  log?: (line: string) => void;
  /** Recorded for `kmx mounts` when the server writes to a log file. */
  logFile?: string;
}

/** A live kmx mount, served by this process. */
export interface ActiveMount {
  readonly mountpoint: string;
  readonly engine: EngineName;
  /** 'major:minor' of the FUSE connection. */
  readonly device: string;
  /** Resolves when the kernel session has ended, whoever unmounted it. */
  readonly ended: Promise<void>;
  /**
   * Unmounts here (busy mounts only with lazy) and resolves once the session has ended. A
   * session that lives on after that (a copy of the mount in a mount namespace made while it
   * was mounted, files still open after a lazy unmount) is ended from this side.
   */
  unmount(options?: { lazy?: boolean }): Promise<void>;
}

const STAT_TIMEOUT_MS = 5000;
/** How long an unmounted session may take to end by itself before it is ended from this side. */
const END_GRACE_MS = 2000;

/** Whether `promise` settles within `ms`. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** fs.stat that gives up after a while: a hung FUSE mount under the path would never answer. */
function statWithTimeout(path: string): ReturnType<typeof stat> {
  return Promise.race([
    stat(path),
    new Promise<never>((_, reject) => setTimeout(() => reject(SysError.of('ETIMEDOUT', 'stat', path, { detail: 'no answer' })), STAT_TIMEOUT_MS).unref()),
  ]);
}

/** Refuses, with one clear line each, every mountpoint the kernel or libfuse would trip over. */
async function checkMountpoint(mountpoint: string): Promise<void> {
  let info;
  try {
    info = await statWithTimeout(mountpoint);
  } catch (err) {
    const code = err instanceof SysError ? err.code : (err as { code?: string }).code;
    if (code === 'ENOENT') throw new KmxError(`mountpoint ${mountpoint} does not exist`, { hint: `create it first: mkdir -p ${mountpoint}` });
    if (code === 'ENOTCONN') throw new KmxError(`${mountpoint} is a stale mount (its server is gone)`, { hint: `clear it with: kmx umount ${mountpoint}` });
    if (code === 'EACCES') throw new KmxError(`no permission to reach mountpoint ${mountpoint}`, { hint: 'choose a directory you own' });
    throw err;
  }
  if (!info.isDirectory()) throw new KmxError(`mountpoint ${mountpoint} is not a directory`, { hint: 'mount on an empty directory' });
  const existing = mountAt(await readMountinfo(), mountpoint);
  if (existing) {
    const what = kmxPluginOf(existing) ? `kmx ${kmxPluginOf(existing)}` : existing.fstype;
    throw new KmxError(`${mountpoint} is already a mount point (${what} from ${existing.source})`, { hint: `unmount it first: ${kmxPluginOf(existing) ? 'kmx umount' : 'umount'} ${mountpoint}` });
  }
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) {
    try {
      await access(mountpoint, fsConstants.W_OK);
    } catch {
      throw new KmxError(`no permission to mount on ${mountpoint}`, { hint: 'mount on a directory you own' });
    }
    // fusermount3 records the user by name and refuses, silently for libfuse, without one.
    if (!userById(uid)) throw new KmxError(`uid ${uid} has no user name, and fusermount3 needs one`, { hint: 'add the user to /etc/passwd (or NSS)' });
  }
  try {
    // libfuse opens /dev/fuse in the calling process before it falls back to fusermount3.
    await access('/dev/fuse', fsConstants.R_OK | fsConstants.W_OK);
  } catch (err) {
    const missing = errnoOf(err) === 2;
    throw new KmxError(missing ? 'this host has no /dev/fuse' : 'no permission to open /dev/fuse', {
      hint: missing ? 'load the fuse module (modprobe fuse), or give the container --device /dev/fuse' : 'as root, give it its usual mode: chmod 0666 /dev/fuse',
    });
  }
}

/**
 * The one way kmx mounts a FUSE filesystem: checks the mountpoint, picks the engine, mounts,
 * waits until the mount answers, and records it for `kmx mounts`. A failed mount leaves no
 * mount behind.
 */
export async function mountFilesystem(request: MountRequest): Promise<ActiveMount> {
  const mountpoint = await canonicalMountpoint(request.mountpoint);
  const engine = selectEngine(request.engine);
  await checkMountpoint(mountpoint);
  const subtype = `kmx-${mountinfoSafe(request.plugin)}`;
  const log = request.log ?? ((line: string) => process.stderr.write(`kmx ${request.plugin}: ${line}\n`));

  // From here on this process serves the mount: a data path, not a short-lived command.
  keepFreedMemory();
  let session;
  let device: string;
  try {
    session = await engine.mount({ filesystem: request.filesystem, mountpoint, fsname: mountinfoSafe(request.source), subtype, options: request.options ?? {}, log });
    // The mount answers only if the filesystem can stat its root: ask, asynchronously (a
    // synchronous call from the serving process into its own mount would deadlock).
    device = deviceString((await statWithTimeout(mountpoint)).dev);
  } catch (err) {
    await removeLeftoverMount(mountpoint, subtype);
    if (err instanceof KmxError) throw err;
    throw new KmxError(`mounting ${request.source} on ${mountpoint} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  const record = {
    device, mountpoint, plugin: request.plugin, source: request.source, pid: process.pid,
    engine: engine.name, startedAt: new Date().toISOString(), ...(request.logFile ? { log: request.logFile } : {}),
  };
  await writeMountRecord(record);
  const ended = session.ended.then(() => removeMountRecord(record).catch(() => undefined));
  return {
    mountpoint,
    engine: engine.name,
    device,
    ended,
    async unmount(options = {}) {
      // Unmounted already (kmx umount, then its request to stop): only the session is left.
      const here = mountAt(await readMountinfo(), mountpoint);
      if (here?.device === device) await unmountPath(mountpoint, options);
      if (await settlesWithin(ended, END_GRACE_MS)) return;
      log(`unmounted here, but still reached from elsewhere (another mount namespace, or files open after a lazy unmount): ending the session, which leaves those disconnected`);
      session.abort();
      await ended;
    },
  };
}

/** After a failed mount: if a mount of ours sits on the mountpoint, detach it. */
async function removeLeftoverMount(mountpoint: string, subtype: string): Promise<void> {
  const left = mountAt(await readMountinfo().catch(() => []), mountpoint);
  if (left?.fstype === `fuse.${subtype}`) await unmountPath(mountpoint, { lazy: true }).catch(() => undefined);
}
