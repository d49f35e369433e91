import { localName, securityOf, type SecurityFlagValues } from '../view/options.js';
import { checkAddress } from '../cluster/peers.js';
import { startAgent, type RunningAgent } from './agent.js';
import { serverCredentials } from './credentials.js';

/** Starts this host's agent as the flags say (TLS from --certs, or --insecure) and logs where it listens. */
export async function serveAgent(listen: string, flags: SecurityFlagValues & { writable?: boolean | undefined }, log: (line: string) => void, certsFromCluster?: string): Promise<RunningAgent> {
  const security = securityOf(flags, certsFromCluster);
  const agent = await startAgent({
    listen: checkAddress(listen, '--listen'),
    credentials: serverCredentials(security),
    writable: flags.writable === true,
    name: localName(flags),
  });
  log(`serving ${localName(flags)}'s /proc on ${agent.address} (${security.kind === 'tls' ? 'mutual TLS' : 'plain TCP, --insecure'})`);
  return agent;
}
