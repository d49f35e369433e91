export { startAgentProcess, type AgentProcess } from './agent-process.js';
export { startAgentFarm, type AgentFarm } from './agent-farm.js';
