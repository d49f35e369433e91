import assert from 'node:assert/strict';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { withTestMount } from '@kmx/core/testing';

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

export function withPosixMount(body: (m: PosixMount) => Promise<void>, extraOptions: string[] = []): Promise<void> {
  return withTestMount({
    prepare: async ({ dir }) => {
      await chmod(dir, 0o755); // temporary directories are private: let the other user in
      for (const name of ['src', 'ref']) {
        await mkdir(join(dir, name));
        await chmod(join(dir, name), 0o1777);
      }
    },
    args: ({ dir, mnt }) => ['passthrough', '-o', ['allow_other', 'default_permissions', ...extraOptions].join(','), join(dir, 'src'), mnt],
  }, ({ dir, mnt }) => body({ dir, mnt, src: join(dir, 'src'), ref: join(dir, 'ref') }));
}

/**
 * Runs a script in `cwd`, as root or as USER (with no supplementary groups), merging stderr
 * into stdout. Its stdin is /dev/null: a pipe the script never reads can fail the test with
 * EPIPE when the script exits first.
 */
export function runAs(who: 'root' | 'user', cwd: string, script: string): Promise<string> {
  const wrapped = `cd '${cwd}' && { ${script}\n} 2>&1; echo "exit=$?"`;
  const env = { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', LC_ALL: 'C', TZ: 'UTC' };
  const shell = ['/bin/sh', '-c', wrapped];
  const [program, ...args] = who === 'root' ? shell : ['setpriv', `--reuid=${USER}`, `--regid=${USER}`, '--clear-groups', ...shell];
  return new Promise((resolve, reject) => {
    const child = spawn(program!, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** The script's output in the mount and in the plain directory must match; returns it. */
export async function same(m: PosixMount, who: 'root' | 'user', script: string): Promise<string> {
  const [inMount, inPlain] = [await runAs(who, m.mnt, script), await runAs(who, m.ref, script)];
  const clean = (out: string, dir: string): string => out.replaceAll(dir, '<dir>');
  assert.equal(clean(inMount, m.mnt), clean(inPlain, m.ref), `as ${who}, differs from a plain directory:\n${script}`);
  return inPlain;
}
