import { localName, securityOf, type SecurityFlagValues } from '../view/options.js';
import { checkAddress } from '../cluster/peers.js';
import { startAgent, type RunningAgent } from './agent.js';
import { revocationOf, serverCredentials } from './credentials.js';
import { resolveReadAs } from './reader.js';
import { WritableKeys } from './writable-keys.js';

export interface AgentFlagValues extends SecurityFlagValues {
  'read-as'?: string | undefined;
  'writable-keys'?: string | undefined;
}

/**
 * Starts this host's agent as the flags say (TLS from --certs, or --insecure; the reading user;
 * the writable keys; the revocation list) and logs where it listens.
 */
export async function serveAgent(listen: string, flags: AgentFlagValues, log: (line: string) => void, certsFromCluster?: string): Promise<RunningAgent> {
  const security = securityOf(flags, certsFromCluster);
  const readAs = resolveReadAs(flags['read-as']);
  const writableKeys = flags['writable-keys'] ? new WritableKeys(flags['writable-keys'], log) : undefined;
  const revoked = revocationOf(security);
  const agent = await startAgent({
    listen: checkAddress(listen, '--listen'),
    credentials: serverCredentials(security),
    readAs,
    writableKeys,
    revoked,
    name: localName(flags),
    log,
  });
  const writes = writableKeys ? `, writes to the keys in ${writableKeys.path}` : '';
  log(`serving ${localName(flags)}'s /proc on ${agent.address} (${security.kind === 'tls' ? 'mutual TLS' : 'plain TCP, --insecure'}; read as ${readAs.name}${writes})`);
  return agent;
}
