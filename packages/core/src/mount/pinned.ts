import { runHelper, type HelperOptions } from './nshelper.js';
import { SysError } from '../errors/index.js';

// kmxd's privileged steps in kmx-nshelper: each acts on a directory kmxd pinned as an fd and
// re-checks it (st_dev/st_ino) inside the caller's mount namespace, so no path string is
// trusted twice. Node only builds argv and fds; the helper enters the namespace or drops to the user.

/** The caller's mount namespace: a pidfd kmxd holds (from SO_PEERPIDFD, or pidfd_open + re-check). */
export interface CallerNamespace {
  readonly pidfd: number;
}

export interface PinnedMountSpec {
  /** Absolute path of the mount dir, as the caller's namespace sees it. */
  path: string;
  /** An fd (O_PATH or O_RDONLY) on that very directory, opened by kmxd. */
  pinnedFd: number;
  /** Fixed by the request kind: 'nfs4', 'nfs', 'tmpfs'. */
  fstype: string;
  source: string;
  /** In order, one fsconfig each; `true` for a flag. Written by kmxd from an allow-list. */
  options: ReadonlyArray<readonly [string, string | true]>;
  /** MOUNT_ATTR_* beyond NOSUID|NODEV, which are always set (RDONLY, NOEXEC, NOSYMFOLLOW). */
  attributes: number;
  /** One option whose value is a secret (a password): handed to the helper on its stdin, set last. */
  secret?: { key: string; value: Buffer };
}

// Option strings are kmxd's own; these characters smuggle options into legacy parsers.
const UNSAFE = /[\0,\n\t\\]/;
const MAX_OPTIONS = 30;

function checkOptions(spec: PinnedMountSpec): string[] {
  if (spec.options.length > MAX_OPTIONS) throw SysError.of('E2BIG', 'fsconfig', undefined, { detail: 'too many options' });
  return spec.options.map(([key, value]) => {
    if (!/^[a-z][a-z0-9_]*$/.test(key) || (value !== true && (UNSAFE.test(value) || value === ''))) {
      throw SysError.of('EINVAL', 'fsconfig', key, { detail: 'option keys are plain words; values may not contain , \\ tab, newline or NUL' });
    }
    return value === true ? key : `${key}=${value}`;
  });
}

/**
 * Creates a filesystem and mounts it, nosuid,nodev (+ attributes), on the pinned directory in
 * the caller's namespace. Resolves with the new mount's id (for the registry).
 */
export async function mountPinned(caller: CallerNamespace, spec: PinnedMountSpec, options: HelperOptions = {}): Promise<bigint> {
  if (!spec.path.startsWith('/') || spec.source.includes('\0') || !/^[a-z0-9.]+$/.test(spec.fstype)) {
    throw SysError.of('EINVAL', 'mount', spec.path);
  }
  const args = ['mount-pinned', spec.path, spec.fstype, spec.source, String(spec.attributes >>> 0), ...checkOptions(spec)];
  if (spec.secret) {
    if (!/^[a-z][a-z0-9_]*$/.test(spec.secret.key) || spec.secret.value.length === 0 || spec.secret.value.length > 1024 || spec.secret.value.includes(0)) {
      throw SysError.of('EINVAL', 'fsconfig', spec.secret.key, { detail: 'a secret is 1 to 1024 bytes without NUL' });
    }
    args.push(`${spec.secret.key}<`);
  }
  const out = await runHelper(args, [caller.pidfd, spec.pinnedFd], options, spec.secret?.value);
  return BigInt(out.trim());
}

/**
 * Unmounts `path` in the caller's namespace from inside its pinned parent, with UMOUNT_NOFOLLOW,
 * and only if the mount there still has the id kmxd recorded (ESTALE otherwise).
 */
export async function unmountPinned(caller: CallerNamespace, path: string, parentFd: number, mountId: bigint, unmount: { lazy?: boolean } = {}, options: HelperOptions = {}): Promise<void> {
  await runHelper(['unmount-pinned', path, mountId.toString(), ...(unmount.lazy ? ['--lazy'] : [])], [caller.pidfd, parentFd], options);
}

/** Who a step runs as: the numbers from the passwd entry kmxd looked up from SO_PEERCRED. */
export interface UserIdentity {
  uid: number;
  gid: number;
  home: string;
}

/** Creates the symlink `home/relPath` → `target` as the user, beneath their own home, following no symlink. */
export async function symlinkAsUser(caller: CallerNamespace, user: UserIdentity, relPath: string, target: string, options: HelperOptions = {}): Promise<void> {
  await runHelper(['symlink-as-user', String(user.uid), String(user.gid), user.home, relPath, target], [caller.pidfd], options);
}

/** Removes `home/relPath` as the user, only if it is a symlink to one of `targets` (EPERM otherwise). */
export async function unlinkAsUser(caller: CallerNamespace, user: UserIdentity, relPath: string, targets: readonly string[], options: HelperOptions = {}): Promise<void> {
  if (targets.length === 0) throw SysError.of('EPERM', 'unlink', relPath, { detail: 'no mount of yours to point at' });
  await runHelper(['unlink-as-user', String(user.uid), String(user.gid), user.home, relPath, ...targets], [caller.pidfd], options);
}
