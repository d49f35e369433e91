import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '@kmx/core/testing';
import * as libc from '../src/libc/index.js';

/**
 * A mount namespace with no process in it, kept alive only by a bind mount of its nsfs file
 * (the recipe from namespaces.md). `setup` (argv) runs inside it once, with `marker`, an empty
 * directory under `dir`, to mount something on; unmounting the nsfs file drops the namespace.
 */
export async function withHeldMountNamespace<T>(dir: string, setup: (marker: string) => string[], body: (nsFile: string, marker: string) => Promise<T>): Promise<T> {
  const holder = join(dir, 'holder');
  const marker = join(dir, 'marker');
  mkdirSync(holder);
  mkdirSync(marker);
  libc.mount(holder, holder, null, libc.MS_BIND);
  libc.mount(null, holder, null, libc.MS_PRIVATE);
  const nsFile = join(holder, 'mnt');
  try {
    writeFileSync(nsFile, '');
    const made = await run('unshare', [`--mount=${nsFile}`, '--propagation', 'private', ...setup(marker)]);
    assert.equal(made.code, 0, made.stderr);
    try {
      return await body(nsFile, marker);
    } finally {
      libc.umount2(nsFile);
    }
  } finally {
    libc.umount2(holder);
  }
}
