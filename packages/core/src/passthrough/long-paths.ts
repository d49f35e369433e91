import * as fs from 'node:fs';
import { O_DIRECTORY, O_PATH } from '../libc/constants.js';

/** Longest path the kernel takes, its terminating NUL included. */
const PATH_MAX = 4096;
/** How much of a long path is opened per step (each step's path must stay below PATH_MAX). */
const STEP = 3000;

/**
 * Calls `use` with a path the kernel accepts for `full`. A file deep in a mount can have a
 * path below the mountpoint shorter than PATH_MAX whose backing path (the source directory
 * in front) is longer: then the parent directory is opened step by step (O_PATH) and the
 * file reached through /proc/self/fd/N/name, which every system call resolves.
 */
export function withUsablePath<T>(full: string, use: (path: string) => T): T {
  if (full.length * 3 < PATH_MAX || Buffer.byteLength(full) < PATH_MAX) return use(full);
  const slash = full.lastIndexOf('/');
  const fd = openDirectory(full.slice(0, slash));
  try {
    return use(`/proc/self/fd/${fd}/${full.slice(slash + 1)}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** An O_PATH descriptor of a directory however long its path, opened a few thousand bytes at a time. */
function openDirectory(dir: string): number {
  const absolute = dir.startsWith('/');
  const steps: string[] = [];
  let current = '';
  for (const part of (absolute ? dir.slice(1) : dir).split('/')) {
    const joined = current === '' ? part : `${current}/${part}`;
    if (current !== '' && Buffer.byteLength(joined) > STEP) {
      steps.push(current);
      current = part;
    } else {
      current = joined;
    }
  }
  steps.push(current);
  let fd: number | undefined;
  try {
    for (const [index, step] of steps.entries()) {
      const path = index > 0 ? `/proc/self/fd/${fd}/${step}` : absolute ? `/${step}` : step;
      const next = fs.openSync(path, O_PATH | O_DIRECTORY);
      if (fd !== undefined) fs.closeSync(fd);
      fd = next;
    }
    return fd!;
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    throw err;
  }
}
