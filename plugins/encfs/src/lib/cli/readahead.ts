import { stat, writeFile } from 'node:fs/promises';

/** Kernel read-ahead for kmx enc mounts: 1 MiB keeps several 128 KiB reads in flight, so the crypto workers all have work. */
export const READ_AHEAD_KIB = 1024;

/**
 * Raises the read-ahead of a FUSE mount's backing device (its bdi in sysfs). Only root may;
 * anyone else keeps the kernel's 128 KiB. Called once the mount answers: the stat is served
 * by the mount itself, so it must never be awaited from inside a FUSE operation.
 */
export async function raiseReadAhead(mountpoint: string, kib = READ_AHEAD_KIB): Promise<void> {
  if (process.getuid?.() !== 0) return;
  try {
    const dev = (await stat(mountpoint)).dev;
    const major = Math.floor(dev / 256) & 0xfff;
    const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    await writeFile(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, `${kib}\n`);
  } catch {
    // sysfs read-only (a container) or the mount already gone: the default read-ahead stays
  }
}
