import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { runKmx, sh, temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { PID_SPACE } from '../src/lib/merge/pid-space.js';
import { withTestNet, type RunningNode } from './helpers/hosts.js';
import { readStatus } from './helpers/proc-text.js';

const CACHE_TTL_MS = 1000;
const TIMEOUT_MS = 1000;

/** One `ps aux` line by pid: the columns that do not move while a process idles (USER, TTY, START, COMMAND). */
function psLines(text: string, pidBase = 0): Map<number, string> {
  const lines = new Map<number, string>();
  for (const line of text.trim().split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const pid = Number(f[1]) + pidBase;
    assert.ok(!lines.has(pid), `pid ${pid} listed twice`);
    lines.set(pid, [f[0], f[6], f[8], f.slice(10).join(' ')].join(' '));
  }
  return lines;
}

/** `ps aux` as a host shows it itself, in its own pid namespace, merged pids. */
async function ownPs(node: RunningNode, slot: number): Promise<Map<number, string>> {
  const r = await sh(`nsenter -t ${node.nodePid()} -p -m ps aux`);
  assert.equal(r.code, 0, r.stderr);
  return psLines(r.stdout, slot * PID_SPACE);
}

async function mergedPs(mnt: string): Promise<{ lines: Map<number, string>; ms: number }> {
  const started = Date.now();
  const r = await runKmx(['procsys', 'run', '--mount', mnt, '--', 'ps', 'aux'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return { lines: psLines(r.stdout), ms: Date.now() - started };
}

/** Starts `sleep SECONDS` inside a host (its pid and mount namespaces); it ends with the host. */
async function sleepOn(node: RunningNode, seconds: number): Promise<void> {
  const r = await sh(`nsenter -t ${node.nodePid()} -p -m sh -c 'sleep ${seconds} > /dev/null 2>&1 &'`);
  assert.equal(r.code, 0, r.stderr);
}

const insecureServe = (address: string, name: string): string[] => ['procsys', 'serve', '--insecure', '--listen', address, '--name', name];

describe('kmx procsys: the process table of several hosts (ps through a merged view)', () => {
  it('ps aux lists every process of every host once, as each host\'s own ps aux shows it; a new process appears within the cache\'s bound', () => temporaryDirectory(async () => {
    await withTestNet(['a', 'b', 'c'], async (net) => {
      const agents = await Promise.all(net.hosts.map((h) => net.start(h, insecureServe(h.address, h.name))));
      const peers = net.hosts.flatMap((h) => ['--peer', `${h.name}=${h.address}`]);
      const args = ['procsys', 'mount', '--insecure', '--name', 'me', '--cache-ttl', String(CACHE_TTL_MS), '--timeout', String(TIMEOUT_MS), ...peers];
      await withTestMount({ args: ({ mnt }) => [...args, mnt] }, async ({ mnt }) => {
        for (const agent of agents) await sleepOn(agent, 3600);
        const before = await Promise.all(agents.map((a, i) => ownPs(a, i + 1)));
        const merged = (await mergedPs(mnt)).lines;
        const after = await Promise.all(agents.map((a, i) => ownPs(a, i + 1)));
        for (const [i, agent] of agents.entries()) {
          let compared = 0;
          for (const [pid, line] of before[i]!) {
            if (after[i]!.get(pid) !== line) continue; // not there throughout
            // An agent's reader refuses its own process (reader-child.ts): no host shows it to peers.
            if (line.includes('reader-child.js')) continue;
            assert.equal(merged.get(pid), line, `${agent.host.name}'s pid ${pid - (i + 1) * PID_SPACE}`);
            compared++;
          }
          assert.ok(compared >= 2, `${agent.host.name}: its agent and sleep at least (${compared})`);
          for (const pid of merged.keys()) {
            if (Math.floor(pid / PID_SPACE) === i + 1) assert.ok(before[i]!.has(pid) || after[i]!.has(pid), `${agent.host.name} has no pid ${pid % PID_SPACE}`);
          }
        }
        assert.ok(merged.has(process.pid), 'this host\'s processes, in its own pids');

        // Freshness: a process started on a host is listed once the cached listing expires.
        await sleepOn(agents[1]!, 3599);
        await sleep(CACHE_TTL_MS + 100);
        const fresh = await mergedPs(mnt);
        const started = [...fresh.lines].filter(([pid, line]) => Math.floor(pid / PID_SPACE) === 2 && line.endsWith('sleep 3599'));
        assert.equal(started.length, 1, 'the new sleep on b, listed once');
      });
    });
  }));

  it('a host that stops answering costs one deadline per refresh, and the view says it is missing', () => temporaryDirectory(async () => {
    await withTestNet(['a', 'b', 'c'], async (net) => {
      const agents = await Promise.all(net.hosts.map((h) => net.start(h, insecureServe(h.address, h.name))));
      const peers = net.hosts.flatMap((h) => ['--peer', `${h.name}=${h.address}`]);
      const args = ['procsys', 'mount', '--insecure', '--name', 'me', '--cache-ttl', String(CACHE_TTL_MS), '--timeout', String(TIMEOUT_MS), ...peers];
      await withTestMount({ args: ({ mnt }) => [...args, mnt] }, async ({ mnt }) => {
        const healthy = await mergedPs(mnt);
        const stopped = agents[1]!.nodePid();
        process.kill(stopped, 'SIGSTOP');
        try {
          await sleep(CACHE_TTL_MS + 100);
          const without = await mergedPs(mnt);
          // One deadline for the whole refresh, not one per file or per process.
          assert.ok(without.ms < healthy.ms + TIMEOUT_MS + 3000, `ps took ${without.ms} ms (healthy ${healthy.ms} ms, deadline ${TIMEOUT_MS} ms)`);
          assert.ok(![...without.lines.keys()].some((pid) => Math.floor(pid / PID_SPACE) === 2), 'none of b\'s processes');
          for (const slot of [1, 3]) assert.ok([...without.lines.keys()].some((pid) => Math.floor(pid / PID_SPACE) === slot), `host ${slot}'s processes are listed`);
          assert.equal((await readStatus(join(mnt, 'status'))).get('b')?.state, 'down');
          const again = await mergedPs(mnt);
          assert.ok(again.ms < healthy.ms + 3000, `a host already down costs nothing (${again.ms} ms)`);
        } finally {
          process.kill(stopped, 'SIGCONT');
        }
      });
    });
  }));
});
