import { realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { KmxError, errnoOf } from '../errors/index.js';

/** A directory argument resolved to its real path, or a clear error naming its role ("source"). */
export async function existingDirectory(path: string, role: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 2) throw new KmxError(`${role} ${path} does not exist`, { hint: `check the path, or create it: mkdir -p ${path}` });
    if (errno === 13) throw new KmxError(`no permission to reach ${role} ${path}`);
    if (errno === 107) throw new KmxError(`${role} ${path} is a stale mount`, { hint: `clear it with: kmx umount ${path}` });
    throw err;
  }
  if (!(await stat(real)).isDirectory()) throw new KmxError(`${role} ${path} is not a directory`);
  return real;
}

/** Whether `inner` is `outer` or lies beneath it (both real paths). */
export function isWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}
