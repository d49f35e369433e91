import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { runKmx, sh, temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { withTestNet } from './helpers/hosts.js';

/** `netstat -tn` rows without the queue columns (they move): protocol, local, foreign, state. */
function connections(text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => /^tcp/.test(l)).map((l) => {
    const f = l.trim().split(/\s+/);
    return [f[0], f[3], f[4], f[5]].join(' ');
  }));
}

const both = <T>(a: Set<T>, b: Set<T>): T[] => [...a].filter((x) => b.has(x));

/** A `free -k` row's numbers: total first. */
function freeRow(text: string, row: 'Mem' | 'Swap'): number[] {
  const line = text.split('\n').find((l) => l.startsWith(`${row}:`));
  assert.ok(line, `free shows ${row}`);
  return line.split(/\s+/).slice(1).map(Number);
}

describe('kmx procsys: tools over a merged view of three agents', () => {
  it('netstat -tn, free and uptime show what each host shows, merged', () => temporaryDirectory(async () => {
    await withTestNet(['a', 'b', 'c'], async (net) => {
      const agents = await Promise.all(net.hosts.map((h) => net.start(h, ['procsys', 'serve', '--insecure', '--listen', h.address, '--name', h.name])));
      const peers = net.hosts.flatMap((h) => ['--peer', `${h.name}=${h.address}`]);
      // No cache: each tool reads what every host has at that moment.
      const args = ['procsys', 'mount', '--insecure', '--name', 'me', '--cache-ttl', '0', ...peers];
      await withTestMount({ args: ({ mnt }) => [...args, mnt] }, async ({ mnt }) => {
        const inView = async (command: string): Promise<string> => {
          const r = await runKmx(['procsys', 'run', '--mount', mnt, '--', 'sh', '-c', command]);
          assert.equal(r.code, 0, r.stderr);
          return r.stdout;
        };
        const own = async (command: string): Promise<string[]> => [
          (await sh(command)).stdout,
          ...(await Promise.all(net.hosts.map(async (h) => (await sh(`ip netns exec ${h.netns} ${command}`)).stdout))),
        ];

        // netstat -tn: every connection that stays open on a host (the agents' to this mount, at least) is listed.
        const before = (await own('netstat -tn')).map(connections);
        const merged = connections(await inView('netstat -tn'));
        const after = (await own('netstat -tn')).map(connections);
        for (const [i, name] of ['me', ...net.hosts.map((h) => h.name)].entries()) {
          const steady = both(before[i]!, after[i]!);
          if (i > 0) assert.ok(steady.some((c) => / ESTABLISHED$/.test(c)), `${name}: its agent's connection`);
          for (const connection of steady) assert.ok(merged.has(connection), `${name}'s ${connection}`);
        }

        // free: totals are every host's added up (each host here shares this kernel: four times this host's).
        const free = await inView('free -k');
        const ownFree = await own('free -k');
        assert.equal(freeRow(free, 'Mem')[0], ownFree.reduce((s, t) => s + freeRow(t, 'Mem')[0]!, 0));
        assert.equal(freeRow(free, 'Swap')[0], ownFree.reduce((s, t) => s + freeRow(t, 'Swap')[0]!, 0));

        // uptime: the longest-running host's, and the load averages added up.
        const load = async (): Promise<number> => Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
        const low = await load();
        const uptime = await inView('uptime; cat /proc/uptime');
        const high = await load();
        const [loadLine, procUptime] = uptime.trim().split('\n') as [string, string];
        const merged1 = Number(/load average: ([\d.]+)/.exec(loadLine)?.[1]);
        const hosts = agents.length + 1;
        assert.ok(merged1 >= Math.min(low, high) * hosts - 0.02 && merged1 <= Math.max(low, high) * hosts + 0.02, `load ${merged1} is ${hosts} × this host's (${low}…${high})`);
        const ownUp = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
        assert.ok(Math.abs(Number(procUptime.split(' ')[0]) - ownUp) < 5, 'every host booted with this kernel: its uptime');
      });
    });
  }));
});
