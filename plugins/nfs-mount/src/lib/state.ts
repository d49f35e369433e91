import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runtimeSubdir } from '@kmx/core';

// What kmx remembers about user-space NFS mounts (kmxd keeps its own registry for kernel ones):
// the name, the mountpoint it made, the link it made. One file per mount, private to the user.

export interface UserspaceMount {
  name: string;
  source: string;
  mountpoint: string;
  /** Whether kmx created the mountpoint (then it removes it afterwards). */
  createdMountpoint: boolean;
  link: string;
  version: string;
}

async function dir(): Promise<string> {
  return runtimeSubdir('nfs');
}

const file = (d: string, name: string): string => join(d, `${encodeURIComponent(name)}.json`);

export async function defaultMountpoint(name: string): Promise<string> {
  const mnt = join(await dir(), 'mnt', name);
  await mkdir(mnt, { recursive: true, mode: 0o700 });
  return mnt;
}

export async function saveMount(m: UserspaceMount): Promise<void> {
  await writeFile(file(await dir(), m.name), `${JSON.stringify(m, null, 1)}\n`, { mode: 0o600 });
}

export async function forgetMount(name: string): Promise<void> {
  await rm(file(await dir(), name), { force: true });
}

export async function savedMounts(): Promise<UserspaceMount[]> {
  const d = await dir();
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
