export { startAgentProcess, type AgentProcess } from './agent-process.js';
