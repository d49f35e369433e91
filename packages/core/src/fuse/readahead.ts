import { writeFile } from 'node:fs/promises';
import { mountAt, readMountinfo } from '../mount/mountinfo.js';

/**
 * Widens the readahead window of the mount's own backing device (/sys/class/bdi/<dev>, one
 * per FUSE connection) to `bytes`. The kernel starts FUSE mounts at 128 KiB, and buffered
 * sequential reads arrive as requests of the window's size whatever max_read allows: with
 * 1 MiB, a read costs an eighth of the round trips (on fuse-native, whose requests stay at
 * 128 KiB, several are in flight at once). Only root may write there; for anyone else (or in
 * a container without a writable /sys) the kernel's default stays. It reads the mount table,
 * never the mountpoint, so a filesystem may call it for its own mount.
 */
export async function widenReadahead(mountpoint: string, bytes: number): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const mount = mountAt(await readMountinfo().catch(() => []), mountpoint);
  if (!mount) return;
  await writeFile(`/sys/class/bdi/${mount.device}/read_ahead_kb`, `${Math.max(128, Math.ceil(bytes / 1024))}\n`).catch(() => undefined);
}
