import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { SysError, toSysError } from '../errors/index.js';
import {
  AT_EMPTY_PATH, AT_FDCWD, FSMOUNT_CLOEXEC, FSOPEN_CLOEXEC, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
  OPEN_TREE_CLOEXEC, OPEN_TREE_CLONE,
} from '../libc/constants.js';
import { close } from '../libc/files.js';
import { fsconfigCreate, fsconfigFlag, fsconfigString, fsmount, fsopen, mountSetattr, openTree } from '../libc/mount.js';
import { pidfdOpen } from '../libc/namespaces.js';
import { parseMountinfo, type MountInfo } from './mountinfo.js';
import { runHelper, type HelperOptions } from './nshelper.js';

// Mounting in other processes' mount namespaces. Node builds the mount itself (the fd mount
// API needs no namespace switch) and hands its fd to kmx-nshelper, which alone enters the
// target namespace: setns() is off limits for the multithreaded Node process.

/** A process whose mount namespace is the target: a pid, or a pidfd the caller keeps open. */
export type TargetProcess = number | { readonly pidfd: number };

/** A filesystem to mount into another namespace. */
export interface NamespaceMountSpec {
  /** Fixed by the calling plugin, never taken from a request. */
  fstype: string;
  source?: string;
  /** One fsconfig call each: a string value, or `true` for a value-less flag. */
  options?: Readonly<Record<string, string | true>>;
  /** Absolute, as the target namespace sees it; its last component must not be a symlink. */
  path: string;
  /** More MOUNT_ATTR_* flags (RDONLY, NOEXEC, NOSYMFOLLOW); NOSUID and NODEV are always set. */
  attributes?: number;
}

const AT_RECURSIVE = 0x8000;
const ALWAYS = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
// Option strings are written by kmx; these characters smuggle options into legacy parsers.
const UNSAFE_OPTION = /[\0,\n\t\\]/;

function checkPath(path: string, syscall: string): void {
  if (!path.startsWith('/') || path.includes('\0')) throw SysError.of('EINVAL', syscall, path, { detail: 'the path must be absolute' });
}

/** Runs `body` with an fd that names the target's mount namespace (a pidfd of it). */
async function withTargetFd<T>(target: TargetProcess, body: (fd: number) => Promise<T>): Promise<T> {
  if (typeof target !== 'number') return body(target.pidfd);
  const pidfd = pidfdOpen(target); // ESRCH for a process that does not exist
  try {
    return await body(pidfd);
  } finally {
    close(pidfd);
  }
}

/**
 * Moves the detached mount `mountFd` (from fsmount or a cloning openTree) onto `path` in the
 * mount namespace of `target`. The path is resolved inside that namespace, from its root; a
 * symlink as the last component is refused (ELOOP). The caller still closes `mountFd`.
 */
export async function attachMount(target: TargetProcess, mountFd: number, path: string, options: HelperOptions = {}): Promise<void> {
  checkPath(path, 'move_mount');
  await withTargetFd(target, (fd) => runHelper(['attach', path], [fd, mountFd], options));
}

/** A detached mount of a new filesystem, with nosuid,nodev (and `attributes`) set from the start. */
export function createDetachedMount(spec: Omit<NamespaceMountSpec, 'path'>): number {
  for (const [key, value] of Object.entries(spec.options ?? {})) {
    if (UNSAFE_OPTION.test(key) || (value !== true && UNSAFE_OPTION.test(value))) {
      throw SysError.of('EINVAL', 'fsconfig', key, { detail: 'option keys and values may not contain , \\ tab, newline or NUL' });
    }
  }
  if (spec.source?.includes('\0')) throw SysError.of('EINVAL', 'fsconfig', 'source');
  const fsfd = fsopen(spec.fstype, FSOPEN_CLOEXEC);
  try {
    if (spec.source !== undefined) fsconfigString(fsfd, 'source', spec.source);
    for (const [key, value] of Object.entries(spec.options ?? {})) {
      if (value === true) fsconfigFlag(fsfd, key);
      else fsconfigString(fsfd, key, value);
    }
    fsconfigCreate(fsfd);
    return fsmount(fsfd, FSMOUNT_CLOEXEC, ALWAYS | (spec.attributes ?? 0));
  } finally {
    close(fsfd);
  }
}

/** Mounts a new filesystem at `spec.path` in the mount namespace of `target`, always nosuid,nodev. */
export async function mountInNamespace(target: TargetProcess, spec: NamespaceMountSpec, options: HelperOptions = {}): Promise<void> {
  checkPath(spec.path, 'move_mount');
  const mountFd = createDetachedMount(spec);
  try {
    await attachMount(target, mountFd, spec.path, options);
  } finally {
    close(mountFd); // a mount never attached goes away with its last fd
  }
}

export interface BindOptions {
  readOnly?: boolean;
  /** Take the mounts below `source` along (default true, like MS_BIND|MS_REC). */
  recursive?: boolean;
}

/**
 * Bind-mounts `source` (resolved in this process's namespace) onto `path` in the namespace of
 * `target`, nosuid,nodev on every mount of the copy.
 */
export async function bindInNamespace(target: TargetProcess, source: string, path: string, bind: BindOptions = {}, options: HelperOptions = {}): Promise<void> {
  checkPath(path, 'move_mount');
  const recursive = bind.recursive === false ? 0 : AT_RECURSIVE;
  const mountFd = openTree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive);
  try {
    mountSetattr(mountFd, '', AT_EMPTY_PATH | recursive, { attrSet: ALWAYS | (bind.readOnly ? MOUNT_ATTR_RDONLY : 0) });
    await attachMount(target, mountFd, path, options);
  } finally {
    close(mountFd);
  }
}

/**
 * Unmounts `path` in the mount namespace of `target`, from inside its parent directory and with
 * UMOUNT_NOFOLLOW (as fusermount does), so a symlink swapped in cannot redirect it.
 */
export async function unmountInNamespace(target: TargetProcess, path: string, unmount: { lazy?: boolean } = {}, options: HelperOptions = {}): Promise<void> {
  checkPath(path, 'umount2');
  await withTargetFd(target, (fd) => runHelper(['unmount', path, ...(unmount.lazy ? ['--lazy'] : [])], [fd], options));
}

/**
 * The mount table of the mount namespace that the nsfs file `nsPath` stands for: a
 * /proc/PID/ns/mnt, or a namespace kept alive by a bind mount and no process (for one with a
 * process, readMountinfo(pid) is cheaper).
 */
export async function readMountinfoOfNamespace(nsPath: string, options: HelperOptions = {}): Promise<MountInfo[]> {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO at that path must not stall the event loop.
    fd = openSync(nsPath, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (err) {
    throw toSysError(err);
  }
  try {
    return parseMountinfo(await runHelper(['mountinfo'], [fd], options));
  } finally {
    closeSync(fd);
  }
}
