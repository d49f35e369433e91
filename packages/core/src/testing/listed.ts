import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KmxMount } from '../mount/table.js';
import { runKmx, type RunResult } from './processes.js';

/**
 * How `kmx mounts --json` lists `mountpoint`, once it shows `state` if one is given: asked up
 * to five times, half a second apart, as its probe gives a mount 2 s to answer, which a loaded
 * machine can exceed. The last listing otherwise (undefined: not listed). `kmx` runs the
 * command (as another user, say).
 */
export async function listedMount(mountpoint: string, state?: KmxMount['state'], kmx: (args: string[]) => Promise<RunResult> = runKmx): Promise<KmxMount | undefined> {
  let seen: KmxMount | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) await sleep(500);
    const r = await kmx(['mounts', '--json']);
    assert.equal(r.code, 0, r.stderr);
    seen = (JSON.parse(r.stdout) as KmxMount[]).find((m) => m.mountpoint === mountpoint);
    if (state === undefined || seen?.state === state) return seen;
  }
  return seen;
}
