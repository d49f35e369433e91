// A child process holding many procsys agents (startAgentFarm): prints one JSON line with
// their names and addresses, then serves until SIGTERM. Usage: agent-farm-main.js COUNT PREFIX
import { startAgentFarm } from '@kmx/plugin-procsys/testing';

const [count, prefix] = [Number(process.argv[2]), process.argv[3] ?? 'f'];
const farm = await startAgentFarm(count, prefix);
process.stdout.write(`${JSON.stringify(farm.agents)}\n`);
process.once('SIGTERM', () => void farm.stop().then(() => process.exit(0)));
