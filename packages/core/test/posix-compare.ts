import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sameAsPlain, withTestMount } from '@kmx/core/testing';

/**
 * The POSIX comparison harness: `kmx passthrough -o allow_other,default_permissions`, served
 * by root, mirrors `src`; `ref` is a plain directory beside it. A script runs in the mount and
 * in `ref`, as root or as another user, and must print the same (errno messages, owners,
 * modes, times, link counts). Both directories are world-writable and sticky, like /tmp, so
 * that root and the other user can each make files there.
 */

/** The other user: no such account needs to exist. */
export const USER = 4242;

export interface PosixMount {
  dir: string;
  mnt: string;
  src: string;
  ref: string;
}

/** With `ownChecks`, the mount leaves permission checks to kmx (no default_permissions). */
export function withPosixMount(body: (m: PosixMount) => Promise<void>, extraOptions: string[] = [], ownChecks = false): Promise<void> {
  return withTestMount({
    prepare: async ({ dir }) => {
      await chmod(dir, 0o755); // temporary directories are private: let the other user in
      for (const name of ['src', 'ref']) {
        await mkdir(join(dir, name));
        await chmod(join(dir, name), 0o1777);
      }
    },
    args: ({ dir, mnt }) => ['passthrough', '-o', ['allow_other', ...(ownChecks ? [] : ['default_permissions']), ...extraOptions].join(','), join(dir, 'src'), mnt],
  }, ({ dir, mnt }) => body({ dir, mnt, src: join(dir, 'src'), ref: join(dir, 'ref') }));
}

/** The script's output in the mount and in the plain directory must match; returns it. */
export function same(m: PosixMount, who: 'root' | 'user', script: string): Promise<string> {
  return sameAsPlain(m.mnt, m.ref, script, who === 'user' ? { user: USER } : {});
}
