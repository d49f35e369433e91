import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runtimeSubdir } from '@kmx/core';

// What kmx remembers about user-space network mounts (kmxd keeps its own registry for kernel
// ones): the name, the mountpoint it made, the link it made. One file per mount, private to the
// user, in a directory per kind (nfs, smb): each kind has its own names.

/** Which command made a mount: kmx nfs or kmx smb. */
export type NetworkKind = 'nfs' | 'smb';

export interface UserspaceMount {
  name: string;
  source: string;
  mountpoint: string;
  /** Whether kmx created the mountpoint (then it removes it afterwards). */
  createdMountpoint: boolean;
  link: string;
  version: string;
}

async function dir(kind: NetworkKind): Promise<string> {
  return runtimeSubdir(kind);
}

const file = (d: string, name: string): string => join(d, `${encodeURIComponent(name)}.json`);

/** Where a mount named `name` goes by default (not made here: see makeMountpoint). */
export async function defaultMountpoint(name: string, kind: NetworkKind = 'nfs'): Promise<string> {
  return join(await dir(kind), 'mnt', name);
}

/**
 * Makes the default mountpoint `path` (under the runtime directory, which is kmx's own). Its
 * parent is made as needed; the mountpoint itself may be left over (an empty directory), and is
 * then taken as it is. Never looks inside: a dead mount there would fail the look with EIO or
 * ENOTCONN (mountinfo is asked first, see claimMount).
 */
export async function makeMountpoint(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await mkdir(path, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Removes a mountpoint kmx made, if it is an empty directory again (anything else stays). */
export async function removeMountpoint(path: string): Promise<void> {
  await rmdir(path).catch(() => undefined);
}

/** Records a mount; refuses (EEXIST) when a record of that name exists. */
export async function saveMount(m: UserspaceMount, kind: NetworkKind = 'nfs'): Promise<void> {
  await writeFile(file(await dir(kind), m.name), `${JSON.stringify(m, null, 1)}\n`, { mode: 0o600, flag: 'wx' });
}

export async function forgetMount(name: string, kind: NetworkKind = 'nfs'): Promise<void> {
  await rm(file(await dir(kind), name), { force: true });
}

export async function savedMounts(kind: NetworkKind = 'nfs'): Promise<UserspaceMount[]> {
  const d = await dir(kind);
  const out: UserspaceMount[] = [];
  for (const name of await readdir(d).catch(() => [])) {
    if (!name.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(await readFile(join(d, name), 'utf8')) as UserspaceMount);
    } catch {
      // torn file: ignore
    }
  }
  return out;
}

/** After a mount ended: forgets its record (and the mountpoint kmx made), unless the name is another mount's by now. */
export async function forgetEnded(m: UserspaceMount, kind: NetworkKind = 'nfs'): Promise<void> {
  const current = (await savedMounts(kind)).find((s) => s.name === m.name);
  if (current?.mountpoint !== m.mountpoint) return;
  if (current.createdMountpoint) await removeMountpoint(m.mountpoint);
  await forgetMount(m.name, kind);
}
