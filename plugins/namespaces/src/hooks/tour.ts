import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KmxError, libc, type Tour } from '@kmx/core';

/** Polls `ready` (bounded) until it holds; a step that never gets there fails the tour. */
async function waitUntil(ready: () => boolean, what: string): Promise<void> {
  for (let tries = 0; tries < 500; tries++) {
    try {
      if (ready()) return;
    } catch {
      // not there yet
    }
    await sleep(10);
  }
  throw new KmxError(`the tour could not start ${what}`);
}

const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
const children = (pid: number): number[] => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

/** kmx ns in the tour: a nested user namespace and one held only by a bind mount. */
export default async function tour(options: { tour: Tour }): Promise<void> {
  const { tour } = options;
  const dir = await tour.dir();
  const netns = join(dir, 'netns');
  tour.section('kmx ns: namespace relations, and what lsns misses');
  tour.say('Two user namespaces, one inside the other, with `sleep` in the inner one (the outer one has no process),');
  tour.say('and a network namespace that only a bind mount keeps alive:');
  const sleeper = spawn('unshare', ['-Ur', 'unshare', '-Ur', 'sleep', '120'], { stdio: 'ignore' });
  // --kill-child: SIGKILL to unshare takes its sleep (pid 1 in there) along.
  const pidns = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', 'sleep', '120'], { stdio: 'ignore' });
  try {
    const ours = readlinkSync('/proc/self/ns/user');
    const inner = sleeper.pid ?? -1; // unshare execs unshare, which execs sleep: one pid throughout
    await waitUntil(() => comm(inner) === 'sleep' && readlinkSync(`/proc/${inner}/ns/user`) !== ours, 'nested user namespaces (unshare -Ur)');
    await waitUntil(() => children(pidns.pid ?? -1).some((c) => comm(c) === 'sleep'), 'a PID namespace (unshare --pid --fork)');
    tour.say(`$ unshare -Ur unshare -Ur sleep 120 &    # pid ${sleeper.pid}`);
    await tour.shell(`touch ${netns} && unshare --net=${netns} true`);
    await tour.kmx(['ns', 'tree']);
    tour.say('lsns lists only namespaces that have a process; kmx also finds the bind-mounted one (and fd- and thread-held ones):');
    await tour.shell('lsns --type net');
    await tour.kmx(['ns', 'list', '--type', 'net']);
    await tour.kmx(['ns', 'show', netns]);
    tour.say(`A PID namespace (\`unshare --pid --fork --mount-proc sleep 120 &\`, pid ${pidns.pid}), drawn as lspidns does:`);
    await tour.kmx(['ns', 'tree', '--type', 'pid']);
  } finally {
    await stop(sleeper);
    await stop(pidns);
    try {
      libc.umount2(netns); // drops the namespace
    } catch {
      // never mounted (the step failed): the tour's clean-up removes the file
    }
  }
}
