import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { homedir } from 'node:os';
import { UsageError } from '@kmx/core';
import { kmxd, requestKmxd, type MountEntryMessage } from '@kmx/core/daemon';
import type { NfsSource, NfsVersionFlag } from '../source.js';

// A kernel NFS mount, asked of kmxd: the request carries what to mount and how, never who asks.

const VERSIONS: Record<NfsVersionFlag, number> = {
  '4.2': kmxd.NfsVersion.NFS_V4_2, '4.1': kmxd.NfsVersion.NFS_V4_1, '4': kmxd.NfsVersion.NFS_V4_0, '3': kmxd.NfsVersion.NFS_V3,
};

/** Whether this kernel has the NFS client for a version (the module may be built in or loaded). */
export async function kernelHasNfs(version: NfsVersionFlag): Promise<boolean> {
  const types = (await readFile('/proc/filesystems', 'utf8').catch(() => '')).split('\n').map((l) => l.split('\t').at(-1));
  return types.includes(version === '3' ? 'nfs' : 'nfs4');
}

/** `--link PATH` as kmxd wants it: relative to $HOME, and inside it. */
export function linkRelativeToHome(link: string, home = homedir()): string {
  const absolute = resolve(link.replace(/^~(?=\/|$)/, home));
  const base = home.replace(/\/+$/, '');
  if (!absolute.startsWith(`${base}/`)) throw new UsageError(`--link ${link} is not inside your home directory ${base}`, 'kmxd makes links only in your own home');
  return absolute.slice(base.length + 1);
}

export interface KernelMountOptions {
  name: string;
  version: NfsVersionFlag;
  readOnly: boolean;
  port: number;
  mountPort: number;
  options: Array<{ key: string; value: string }>;
  link?: string;
}

export async function mountThroughKmxd(source: NfsSource, o: KernelMountOptions): Promise<MountEntryMessage> {
  const response = await requestKmxd({
    mountNfs: {
      name: o.name, server: source.server, exportPath: source.exportPath, version: VERSIONS[o.version], readOnly: o.readOnly,
      port: o.port, mountPort: o.mountPort, options: o.options, link: o.link ? linkRelativeToHome(o.link) : '',
    },
  });
  return response.mounted?.mount ?? {};
}

/** -o a,b=1 into NFS option pairs; `ro` becomes the read-only flag. */
export function splitNfsOptions(specs: readonly string[]): { options: Array<{ key: string; value: string }>; readOnly: boolean } {
  const options: Array<{ key: string; value: string }> = [];
  let readOnly = false;
  for (const item of specs.flatMap((s) => s.split(',')).filter(Boolean)) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === 'ro') readOnly = true;
    else if (key !== 'rw') options.push({ key, value: eq < 0 ? '' : item.slice(eq + 1) });
  }
  return { options, readOnly };
}
