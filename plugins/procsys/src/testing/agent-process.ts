import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { kmxBin } from '@kmx/core/testing';

/** `kmx procsys serve ARGS` as a child of the test, on loopback; stopped by its pid. */
export interface AgentProcess {
  child: ChildProcess;
  /** host:port it listens on. */
  address: string;
  output(): string;
  stop(): Promise<void>;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Starts an agent; resolves once it says where it listens, rejects (having stopped it) if it exits first. */
export async function startAgentProcess(args: readonly string[]): Promise<AgentProcess> {
  const child = spawn(process.execPath, [kmxBin(), 'procsys', 'serve', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 30_000;
  try {
    for (let match = /on (127\.0\.0\.1:\d+)/.exec(output); !match; match = /on (127\.0\.0\.1:\d+)/.exec(output)) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`kmx procsys serve ${args.join(' ')} exited: ${output}`);
      if (Date.now() > deadline) throw new Error(`kmx procsys serve ${args.join(' ')} did not start: ${output}`);
      await sleep(50);
    }
  } catch (err) {
    await stop(child);
    throw err;
  }
  return { child, address: /on (127\.0\.0\.1:\d+)/.exec(output)![1]!, output: () => output, stop: () => stop(child) };
}
