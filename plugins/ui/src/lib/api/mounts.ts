import { listKmxMounts, unmountKmx, type KmxMount } from '@kmx/core';
import { ApiError, fieldsOf, stringField } from '../server/routes.js';
import { failureOf, kmxOrFail, runKmxChild, type KmxExecutable } from './kmx-child.js';

// The Mounts view: what `kmx mounts` lists (core's registry joined with mountinfo, probed),
// the kernel NFS mounts kmxd made for this user (as `kmx nfs list` gives them), and unmounting
// through the same calls `kmx umount` and `kmx nfs umount` make.

export interface NfsRow {
  name: string;
  source: string;
  mountpoint: string;
  mode: 'kernel' | 'userspace';
  detail: string;
  link: string;
}

export interface MountsView {
  mounts: KmxMount[];
}

export async function listMounts(): Promise<MountsView> {
  return { mounts: await listKmxMounts() };
}

/**
 * `kmx nfs list --json` as a child: the NFS plugin keeps its listing (kmxd's registry for this
 * user, and its user-space records) in its command; a child also keeps a kmxd that does not
 * answer from holding up the rest of the page.
 */
export async function listNfs(kmx: KmxExecutable): Promise<{ mounts: NfsRow[]; kmxd: boolean }> {
  const result = await runKmxChild(kmx, ['nfs', 'list', '--json'], { timeoutMs: 20_000 });
  if (result.code !== 0) throw failureOf(result, 'kmx nfs list');
  const parsed = JSON.parse(result.stdout) as { mounts?: NfsRow[]; kmxd?: boolean };
  return { mounts: parsed.mounts ?? [], kmxd: parsed.kmxd === true };
}

/** Unmounts one of this user's kmx mounts by mountpoint (as kmx umount), or an NFS mount by name (as kmx nfs umount). */
export async function unmount(kmx: KmxExecutable, body: unknown): Promise<{ unmounted: string }> {
  const fields = fieldsOf(body);
  const nfsName = stringField(fields, 'nfsName');
  if (nfsName !== undefined) {
    if (nfsName.startsWith('-')) throw new ApiError(400, 'nfsName must not start with "-"');
    await kmxOrFail(kmx, ['nfs', 'umount', nfsName], 'kmx nfs umount');
    return { unmounted: nfsName };
  }
  const mountpoint = stringField(fields, 'mountpoint', { required: true })!;
  if (!mountpoint.startsWith('/')) throw new ApiError(400, 'mountpoint must be an absolute path');
  const lazy = fields.lazy === true;
  const mount = await unmountKmx(mountpoint, { lazy });
  return { unmounted: mount.mountpoint };
}
