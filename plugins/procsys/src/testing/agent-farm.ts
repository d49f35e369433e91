import * as grpc from '@grpc/grpc-js';
import { startAgent, type RunningAgent } from '../lib/rpc/agent.js';
import { ProcReader, resolveReadAs } from '../lib/rpc/reader.js';

/**
 * Many agents in one process, for measuring a merged view of more hosts than the machine
 * could run agent processes for (200 agents would take about 20 GB as processes). Each is a
 * real agent on its own loopback port, answering with this host's /proc; they share one
 * reader, so what a farm measures is the view's side, not the agents' CPU.
 */
export interface AgentFarm {
  readonly agents: readonly { name: string; address: string }[];
  stop(): Promise<void>;
}

export async function startAgentFarm(count: number, namePrefix: string): Promise<AgentFarm> {
  const reader = await ProcReader.start(resolveReadAs());
  const running: RunningAgent[] = [];
  const stop = async (): Promise<void> => {
    // Each agent stops the shared reader too: one after another, so that only the first waits for it.
    for (const agent of running) await agent.stop();
    await reader.stop();
  };
  try {
    for (let i = 0; i < count; i++) {
      running.push(await startAgent({ listen: '127.0.0.1:0', credentials: grpc.ServerCredentials.createInsecure(), reader, name: `${namePrefix}${i}` }));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { agents: running.map((a, i) => ({ name: `${namePrefix}${i}`, address: a.address })), stop };
}
