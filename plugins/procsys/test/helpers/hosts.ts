import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { kmxBin } from '@kmx/core/testing';

/**
 * Extra hosts for tests: each a network namespace (kmxt-…) with its own UTS and PID
 * namespaces, joined by a bridge to this host. Everything made is removed at the end,
 * whatever happened; every process started is stopped by its pid.
 */

const AGENT_PORT = 7447;

export interface TestHost {
  name: string;
  netns: string;
  ip: string;
  address: string;
}

export interface RunningNode {
  host: TestHost;
  /** `ip netns exec … unshare …`: killing it (SIGKILL) takes the whole host process tree down. */
  process: ChildProcess;
  output(): string;
  /** The node's process as this host sees it (kmx, pid 1 of the host's pid namespace). */
  nodePid(): number;
  /** A path in the host's own mount namespace, as this host can reach it (its /proc: `/proc/…`). */
  inside(path: string): string;
  stop(): Promise<void>;
}

export interface TestNet {
  hosts: TestHost[];
  /** This host's address on the bridge. */
  gateway: string;
  /** Starts `kmx ARGS` on a host (in its namespaces); resolves once `ready` matches its output. */
  start(host: TestHost, args: readonly string[], ready?: RegExp): Promise<RunningNode>;
}

const execFileAsync = promisify(execFile);

/** Runs a set-up command (no stdin: core's run() writes to a stdin that `ip` may have closed). */
async function must(program: string, args: readonly string[]): Promise<void> {
  try {
    await execFileAsync(program, [...args], { timeout: 20_000 });
  } catch (err) {
    throw new Error(`${program} ${args.join(' ')}: ${String((err as { stderr?: unknown }).stderr ?? err).trim()}`);
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function withTestNet<T>(names: readonly string[], body: (net: TestNet) => Promise<T>): Promise<T> {
  const tag = `${process.pid % 10000}`;
  const octet = 20 + (process.pid % 200);
  const bridge = `kmxtb${tag}`;
  const gateway = `10.205.${octet}.1`;
  const hosts = names.map((name, i): TestHost => ({ name, netns: `kmxt-ps${tag}-${name}`, ip: `10.205.${octet}.${11 + i}`, address: `10.205.${octet}.${11 + i}:${AGENT_PORT}` }));
  const nodes: RunningNode[] = [];
  const made: string[] = [];
  try {
    await must('ip', ['link', 'add', bridge, 'type', 'bridge']);
    made.push('bridge');
    await must('ip', ['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    await must('ip', ['link', 'set', bridge, 'up']);
    for (const [i, host] of hosts.entries()) {
      await must('ip', ['netns', 'add', host.netns]);
      made.push(host.netns);
      const veth = `kmxtv${tag}${i}`;
      await must('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.netns]);
      made.push(`veth:${veth}`);
      await must('ip', ['link', 'set', veth, 'master', bridge]);
      await must('ip', ['link', 'set', veth, 'up']);
      await must('ip', ['-n', host.netns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0']);
      await must('ip', ['-n', host.netns, 'link', 'set', 'eth0', 'up']);
      await must('ip', ['-n', host.netns, 'link', 'set', 'lo', 'up']);
    }
    const start = async (host: TestHost, args: readonly string[], ready = /serving .* on |mounted/): Promise<RunningNode> => {
      const script = `hostname '${host.name}' && exec "$0" "$@"`;
      const child = spawn('ip', ['netns', 'exec', host.netns, 'unshare', '--uts', '--pid', '--fork', '--kill-child', '--mount-proc', 'sh', '-c', script, process.execPath, kmxBin(), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env },
      });
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const node: RunningNode = {
        host,
        process: child,
        output: () => output,
        nodePid: () => {
          const inner = childrenOf(child.pid!)[0];
          if (!inner) throw new Error(`${host.name}: no process inside yet`);
          return inner;
        },
        inside: (path) => `/proc/${node.nodePid()}/root${path}`,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGKILL'); // unshare --kill-child takes its child (the host's pid 1) along
            await waitExit(child, 10_000);
          }
        },
      };
      nodes.push(node);
      const deadline = Date.now() + 30_000;
      while (!ready.test(output)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${host.name}: kmx ${args.join(' ')} exited early:\n${output}`);
        if (Date.now() > deadline) throw new Error(`${host.name}: kmx ${args.join(' ')} not ready in time:\n${output}`);
        await sleep(50);
      }
      return node;
    };
    return await body({ hosts, gateway, start });
  } finally {
    for (const node of nodes) await node.stop();
    for (const name of made.reverse()) {
      if (name === 'bridge') await must('ip', ['link', 'del', bridge]).catch(() => undefined);
      // Deleted here, not with its namespace: that goes later, and a next test of this process would reuse the name.
      else if (name.startsWith('veth:')) await must('ip', ['link', 'del', name.slice(5)]).catch(() => undefined);
      else await must('ip', ['netns', 'del', name]).catch(() => undefined);
    }
  }
}
