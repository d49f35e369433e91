import assert from 'node:assert/strict';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runKmx, sh, temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { PID_SPACE } from '../src/lib/merge/pid-space.js';
import { withTestNet, type RunningNode } from './helpers/hosts.js';
import { eventually, interfaces, meminfoField, pidNames, processorCount, readStatus } from './helpers/proc-text.js';

async function makeCerts(dir: string, nodes: readonly string[]): Promise<string> {
  const certs = join(dir, 'certs');
  const r = await runKmx(['procsys', 'certs', '--dir', certs, ...nodes.flatMap((n) => ['--node', n])]);
  assert.equal(r.code, 0, r.stderr);
  return certs;
}

const serveArgs = (node: { name: string; address: string }, certs: string): string[] =>
  ['procsys', 'serve', '--listen', node.address, '--certs', certs, '--name', node.name];

describe('kmx procsys: several hosts (network namespaces with their own UTS and PID namespaces)', () => {
  it('merges three agents: each file checked against each host\'s own /proc', () => temporaryDirectory(async (dir) => {
    const certs = await makeCerts(dir, ['a', 'b', 'c', 'me']);
    await withTestNet(['a', 'b', 'c'], async (net) => {
      const agents = await Promise.all(net.hosts.map((h) => net.start(h, serveArgs(h, certs))));
      const peers = net.hosts.flatMap((h) => ['--peer', `${h.name}=${h.address}`]);
      await withTestMount({ args: ({ mnt }) => ['procsys', 'mount', '--certs', certs, '--name', 'me', ...peers, mnt] }, async ({ mnt }) => {
        assert.deepEqual((await readdir(join(mnt, 'hosts'))).sort(), ['a', 'b', 'c', 'me']);
        const status = await readStatus(join(mnt, 'status'));
        assert.deepEqual([...status.entries()].map(([n, s]) => `${n} ${s.state} ${s.slot}`), ['me local 0', 'a up 1', 'b up 2', 'c up 3']);

        // Each host's own files, as that host's /proc gives them (read through its namespaces).
        // net/ is self/net, and `self` means nothing to a reader outside that pid namespace: go through pid 1.
        const own = (agent: RunningNode, file: string): Promise<string> => readFile(agent.inside(`/proc/${file.replace(/^net\//, '1/net/')}`), 'utf8');
        for (const agent of agents) {
          const name = agent.host.name;
          assert.equal((await readFile(join(mnt, 'hosts', name, 'sys/kernel/hostname'), 'utf8')).trim(), name);
          assert.deepEqual(interfaces(await readFile(join(mnt, 'hosts', name, 'net/dev'), 'utf8')), interfaces(await own(agent, 'net/dev')));
          assert.equal(await readFile(join(mnt, 'hosts', name, 'cpuinfo'), 'utf8'), await own(agent, 'cpuinfo'));
          assert.deepEqual(pidNames(await readdir(join(mnt, 'hosts', name))), pidNames(await readdir(agent.inside('/proc'))));
        }

        // Merged files: sums, concatenations, renamed interfaces.
        const texts = [await readFile('/proc/meminfo', 'utf8'), ...(await Promise.all(agents.map((a) => own(a, 'meminfo'))))];
        assert.equal(meminfoField(await readFile(join(mnt, 'meminfo'), 'utf8'), 'MemTotal'), texts.reduce((s, t) => s + meminfoField(t, 'MemTotal'), 0));
        const cpus = [await readFile('/proc/cpuinfo', 'utf8'), ...(await Promise.all(agents.map((a) => own(a, 'cpuinfo'))))];
        const mergedCpuinfo = await readFile(join(mnt, 'cpuinfo'), 'utf8');
        assert.equal(processorCount(mergedCpuinfo), cpus.reduce((s, t) => s + processorCount(t), 0));
        assert.deepEqual([...mergedCpuinfo.matchAll(/^processor\s*: (\d+)/gm)].map((m) => Number(m[1])), [...Array(processorCount(mergedCpuinfo)).keys()]);
        const cpuLines = (await readFile(join(mnt, 'stat'), 'utf8')).split('\n').filter((l) => /^cpu\d+ /.test(l));
        assert.equal(cpuLines.length, processorCount(mergedCpuinfo));
        const expectedIfaces = [...interfaces(await readFile('/proc/net/dev', 'utf8'))];
        for (const agent of agents) expectedIfaces.push(...interfaces(await own(agent, 'net/dev')).map((i) => `${i}@${agent.host.name}`.slice(0, 15)));
        assert.deepEqual(interfaces(await readFile(join(mnt, 'net/dev'), 'utf8')), expectedIfaces);
        const route = await readFile(join(mnt, 'net/route'), 'utf8');
        assert.match(route, /^eth0@a\t/m);
        const [up] = (await readFile(join(mnt, 'uptime'), 'utf8')).split(' ').map(Number);
        assert.ok(up! >= Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]) - 5);
        assert.match(await readFile(join(mnt, 'loadavg'), 'utf8'), /^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+\/\d+ \d+\n$/);

        // Processes: host slot k owns k·2^22 + pid; stat and status carry the merged pids.
        const merged = pidNames(await readdir(mnt));
        for (const [slot, agent] of agents.entries()) {
          const base = (slot + 1) * PID_SPACE;
          assert.ok(merged.includes(base + 1), `${agent.host.name}'s pid 1 appears as ${base + 1}`);
          const stat = await readFile(join(mnt, String(base + 1), 'stat'), 'utf8');
          assert.match(stat, new RegExp(`^${base + 1} \\(node\\) \\S 0 `)); // ppid 0: its parent is outside the host
          const statusText = await readFile(join(mnt, String(base + 1), 'status'), 'utf8');
          assert.match(statusText, new RegExp(`^Pid:\\t${base + 1}$`, 'm'));
          assert.match(statusText, /^PPid:\t0$/m);
          const tasks = await readdir(join(mnt, String(base + 1), 'task'));
          assert.ok(tasks.includes(String(base + 1)));
          assert.equal(await readFile(join(mnt, String(base + 1), 'task', String(base + 1), 'comm'), 'utf8'), 'node\n');
        }
        assert.ok(merged.includes(process.pid), 'this host keeps its own pids (slot 0)');
        assert.equal(await readlink(join(mnt, 'hosts/a/net')).catch((e: NodeJS.ErrnoException) => e.code), 'EINVAL', 'a remote net is a directory');

        // ps through the merged view lists every host's processes.
        const ps = await runKmx(['procsys', 'run', '--mount', mnt, '--', 'ps', '-e', '-o', 'pid=,comm=']);
        assert.equal(ps.code, 0, ps.stderr);
        for (const slot of [1, 2, 3]) assert.match(ps.stdout, new RegExp(`^\\s*${slot * PID_SPACE + 1} node$`, 'm'));
        assert.match(ps.stdout, new RegExp(`^\\s*${process.pid} node$`, 'm'));

        // ifconfig and netstat -i ask the kernel by ioctl, which knows only this host's interfaces.
        const names = "netstat -i | awk 'NR > 2 {print $1}'";
        const netstat = await runKmx(['procsys', 'run', '--mount', mnt, '--', 'sh', '-c', names]);
        // netstat -i stops at the first interface the kernel does not know: it shows some of this host's.
        const direct = (await sh(names)).stdout.split('\n');
        for (const name of netstat.stdout.split('\n')) assert.ok(direct.includes(name), `netstat -i shows ${name}, not one of this host's`);
        assert.match(netstat.stderr, /^\S+@a: error fetching interface information: Device not found$/m);
        const ifconfig = await runKmx(['procsys', 'run', '--mount', mnt, '--', 'ifconfig']);
        assert.notEqual(ifconfig.code, 0);
        assert.match(ifconfig.stdout, /^\S+: flags=\d+<UP/m, 'this host\'s interfaces, shown in full');
        assert.match(ifconfig.stderr, /^eth0@a: error fetching interface information: Device not found$/m);
      });
    });
  }));

  it('a slow host and a host killed mid-read never hang a read; down hosts show in status and rejoin', () => temporaryDirectory(async (dir) => {
    const certs = await makeCerts(dir, ['a', 'b', 'me']);
    await withTestNet(['a', 'b'], async (net) => {
      const [hostA, hostB] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0]];
      let agentA = await net.start(hostA, serveArgs(hostA, certs));
      const agentB = await net.start(hostB, serveArgs(hostB, certs));
      const args = ['procsys', 'mount', '--certs', certs, '--name', 'me', '--timeout', '500', '--cache-ttl', '0', '--peer', `a=${hostA.address}`, '--peer', `b=${hostB.address}`];
      await withTestMount({ args: ({ mnt }) => [...args, mnt] }, async ({ mnt }) => {
        const memTotal = async (): Promise<number> => meminfoField(await readFile(join(mnt, 'meminfo'), 'utf8'), 'MemTotal');
        const one = meminfoField(await readFile('/proc/meminfo', 'utf8'), 'MemTotal');
        assert.equal(await memTotal(), 3 * one);

        // Slow: b stops answering (SIGSTOP). Reads finish within the timeout, without b.
        process.kill(agentB.nodePid(), 'SIGSTOP');
        try {
          const started = Date.now();
          assert.equal(await memTotal(), 2 * one);
          assert.ok(Date.now() - started < 5000, 'the read waited at most about the timeout');
          assert.equal((await readStatus(join(mnt, 'status'))).get('b')?.state, 'down');
          const direct = await sh(`timeout 10 cat '${mnt}/hosts/b/meminfo'`);
          assert.notEqual(direct.code, 0);
          assert.match(direct.stderr, /Host is down|timed out/);
          assert.notEqual(direct.code, 124, 'not a hang');
        } finally {
          process.kill(agentB.nodePid(), 'SIGCONT');
        }
        await eventually(async () => assert.equal(await memTotal(), 3 * one), 15_000, 'b rejoins');
        assert.equal((await readStatus(join(mnt, 'status'))).get('b')?.state, 'up');

        // Killed mid-read: readers keep going while a dies; every read completes.
        const readers = sh(`for i in $(seq 150); do timeout 10 cat '${mnt}/meminfo' '${mnt}/net/dev' '${mnt}/loadavg' > /dev/null || exit 1; ls '${mnt}' > /dev/null || exit 1; done`, { timeoutMs: 120_000 });
        await eventually(async () => assert.ok((await readFile(join(mnt, 'loadavg'), 'utf8')).length > 0), 1000);
        await agentA.stop();
        const finished = await readers;
        assert.equal(finished.code, 0, finished.stderr);
        await eventually(async () => assert.equal((await readStatus(join(mnt, 'status'))).get('a')?.state, 'down'), 10_000, 'a is shown down');
        assert.equal(await memTotal(), 2 * one);
        assert.ok(!(await readdir(mnt)).some((n) => /^\d+$/.test(n) && Math.floor(Number(n) / PID_SPACE) === 1), 'a dead host\'s processes are gone');

        // a comes back on the same address: it rejoins.
        agentA = await net.start(hostA, serveArgs(hostA, certs));
        await eventually(async () => assert.equal(await memTotal(), 3 * one), 20_000, 'a rejoins');
        assert.equal((await readStatus(join(mnt, 'status'))).get('a')?.state, 'up');
      });
    });
  }));

  it('peer-to-peer: every node serves and mounts the same cluster file, and sees the same view', () => temporaryDirectory(async (dir) => {
    const names = ['p1', 'p2', 'p3'];
    await makeCerts(dir, names);
    await withTestNet(names, async (net) => {
      const clusterFile = join(dir, 'cluster.json');
      await sh(`cat > '${clusterFile}' <<'EOF'\n${JSON.stringify({ hosts: net.hosts.map((h) => ({ name: h.name, address: h.address })), certs: 'certs' })}\nEOF`);
      const mnt = join(dir, 'mnt');
      await sh(`mkdir -p '${mnt}'`);
      // The one key the agents let peers write.
      const keys = join(dir, 'writable-keys');
      await sh(`umask 077 && echo net/ipv4/ip_default_ttl > '${keys}'`);
      const nodes = await Promise.all(net.hosts.map((h) => net.start(h, ['procsys', 'mount', '--cluster', clusterFile, '--name', h.name, '--serve', h.address, '--allow-down', '--writable', '--writable-keys', keys, mnt], /serving .* on /)));
      const view = (node: RunningNode, path: string): string => node.inside(join(mnt, path));
      for (const node of nodes) {
        await eventually(async () => {
          const status = await readStatus(view(node, 'status'));
          assert.deepEqual([...status.entries()].map(([n, s]) => `${n} ${s.slot} ${s.state === 'local' ? 'up' : s.state}`), ['p1 0 up', 'p2 1 up', 'p3 2 up']);
        }, 20_000, `${node.host.name} sees every peer`);
      }
      const listings = async (): Promise<string[]> => Promise.all(nodes.map(async (n) => pidNames(await readdir(view(n, '.'))).join(' ')));
      await eventually(async () => {
        const [first, ...rest] = await listings();
        for (const other of rest) assert.equal(other, first);
        assert.ok(first!.split(' ').length >= 3);
      }, 10_000, 'the same processes on every node');
      const totals = await Promise.all(nodes.map(async (n) => meminfoField(await readFile(view(n, 'meminfo'), 'utf8'), 'MemTotal')));
      assert.equal(new Set(totals).size, 1);
      for (const node of nodes) assert.deepEqual((await readdir(view(node, 'hosts'))).sort(), names);
      for (const [slot, node] of nodes.entries()) {
        assert.equal((await readFile(view(nodes[(slot + 1) % 3]!, `hosts/${node.host.name}/sys/kernel/hostname`), 'utf8')).trim(), node.host.name);
      }
      // --writable on the mount, the key in the agent's --writable-keys: p1 sets a per-network-namespace setting of p2 through its view.
      const setting = 'sys/net/ipv4/ip_default_ttl';
      const write = await sh(`echo 77 > '${view(nodes[0]!, `hosts/p2/${setting}`)}'`);
      assert.equal(write.code, 0, write.stderr);
      assert.equal((await sh(`ip netns exec ${net.hosts[1]!.netns} cat /proc/${setting}`)).stdout.trim(), '77');
      assert.notEqual((await readFile(`/proc/${setting}`, 'utf8')).trim(), '77', 'only p2 changed');
      const outside = await sh(`echo 1 > '${view(nodes[0]!, 'hosts/p2/1/oom_score_adj')}'`);
      assert.notEqual(outside.code, 0, 'remote writes go only below sys/');
      // (p2's own network namespace: were it written, nothing outside the test would change; dash's echo calls every write error an I/O error.)
      const unlisted = await sh(`/bin/echo 0 > '${view(nodes[0]!, 'hosts/p2/sys/net/ipv4/ip_forward')}'`);
      assert.match(unlisted.stderr, /Permission denied/, 'a key the list does not name');
    });
  }));
});
