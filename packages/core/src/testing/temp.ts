import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMountinfo } from '../mount/mountinfo.js';
import { unmountPath } from '../mount/unmount.js';

/** Every mount at or below `dir`, deepest first (the order to take them down in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const mounts = (await readMountinfo()).map((m) => m.mountpoint).filter((p) => p === dir || p.startsWith(`${dir}/`));
  return mounts.sort((a, b) => b.length - a.length);
}

/**
 * Runs `body` with a fresh temporary directory. Afterwards, whatever happened, anything still
 * mounted below it is detached and the directory removed (never through a live mount).
 */
export async function temporaryDirectory<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'kmx-test-'));
  try {
    return await body(dir);
  } finally {
    for (const mountpoint of await mountsUnder(dir)) await unmountPath(mountpoint, { lazy: true }).catch(() => undefined);
    if ((await mountsUnder(dir)).length === 0) await rm(dir, { recursive: true, force: true });
  }
}
