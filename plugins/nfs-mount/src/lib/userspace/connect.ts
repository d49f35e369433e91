import { KmxError, type ConnectionState } from '@kmx/core';
import type { NfsSource } from '../source.js';
import { NfsClient } from './client.js';
import type { Credential } from './driver.js';
import type { NfsProtocol } from './mount-export.js';
import { clientNamer, credentialKey, NfsClients, ownCredential } from './pool.js';

export interface UserspaceTarget {
  source: NfsSource;
  protocol: NfsProtocol;
  /** 0: the server's default (2049). */
  port: number;
  /** NFSv3 mountd port; 0: ask the portmapper. */
  mountPort: number;
  timeoutMs: number;
}

export function nfsUrl(t: UserspaceTarget): string {
  const host = t.source.server.includes(':') ? `[${t.source.server}]` : t.source.server;
  const params = [`version=${t.protocol}`];
  if (t.port) params.push(`nfsport=${t.port}`);
  if (t.mountPort && t.protocol === 3) params.push(`mountport=${t.mountPort}`);
  return `nfs://${host}${encodeURI(t.source.exportPath)}?${params.join('&')}`;
}

/**
 * Connects and mounts the export in user space; a failure is one clear line. Later, the client
 * reconnects by itself: `log` hears of it and `onState` follows the connection's state.
 */
export async function connectUserspace(t: UserspaceTarget, events: { log?: (line: string) => void; onState?: (state: ConnectionState) => void } = {}): Promise<NfsClients> {
  const name = clientNamer();
  const own = ownCredential();
  const connect = (credential: Credential, more: typeof events & { probe?: boolean } = {}): Promise<NfsClient> =>
    NfsClient.connect({ url: nfsUrl(t), protocol: t.protocol, timeoutMs: t.timeoutMs, credential, clientName: name(credential), ...more });
  let client: NfsClient;
  try {
    client = await connect(own, events);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    const where = `${t.source.server}:${t.source.exportPath}`;
    if (/MNT3ERR_NOENT|MNT3ERR_ACCES|NFS4ERR_NOENT|Lookup of/i.test(detail)) {
      throw new KmxError(`the server has no export ${t.source.exportPath} (${where}: ${detail.replace(/^[^:]+: /, '')})`, { hint: 'check the export path (showmount -e server)', cause: err });
    }
    throw new KmxError(`cannot reach NFS server ${where}: ${detail.replace(/^mount: (i\/o error \(EIO\): )?/, '')}`, { hint: 'check the server name, port and that it exports over TCP', cause: err });
  }
  // Other callers' clients (a shared mount) log as the mount's does, say nothing of its state
  // and ask nothing when idle (an idle one is closed instead).
  const log = events.log;
  return new NfsClients(client, credentialKey(own), (credential) => connect(credential, {
    probe: false,
    ...(log ? { log: (line: string) => log(`(as uid ${credential.uid}) ${line}`) } : {}),
  }));
}
