import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { SysError } from '../errors/index.js';
import { MOUNT_ATTR_RDONLY } from '../libc/constants.js';
import type { CheckedOptions } from './policy.js';

// The kernel NFS client does no DNS and needs to be told where to call back: kmxd resolves the
// server and passes the options mount.nfs would (addr=, clientaddr=, vers=, mountaddr=, …).

export type NfsVersion = '3' | '4.0' | '4.1' | '4.2';

export interface NfsMountRequest {
  server: string;
  exportPath: string;
  version: NfsVersion;
  readOnly: boolean;
  port: number;
  mountPort: number;
  checked: CheckedOptions;
  /** Refuses a server address (once resolved) that kmxd's policy does not allow. */
  checkAddress: (address: string) => void;
}

export interface KernelMountSpec {
  fstype: 'nfs' | 'nfs4';
  source: string;
  options: Array<[string, string | true]>;
  attributes: number;
}

const RESOLVE_TIMEOUT_MS = 10_000;

export async function resolveServer(server: string): Promise<{ address: string; family: number }> {
  if (isIP(server)) return { address: server, family: isIP(server) };
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      lookup(server, { verbatim: true }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(SysError.of('ETIMEDOUT', 'resolve', server)), RESOLVE_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    if (err instanceof SysError) throw err;
    throw SysError.of('EHOSTUNREACH', 'resolve', server, { detail: 'the host name does not resolve' });
  } finally {
    clearTimeout(timer);
  }
}

/** The local address this host would use to reach `address` (a connected UDP socket sends nothing). */
export function localAddressFor(address: string, family: number, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.once('error', (err) => {
      socket.close();
      reject(SysError.of('ENETUNREACH', 'connect', address, { detail: err.message }));
    });
    socket.connect(port, address, () => {
      const local = socket.address().address;
      socket.close();
      resolve(local);
    });
  });
}

/** The fs type, source and option strings for mount(2) of an NFS export, as mount.nfs would build them. */
export async function nfsMountSpec(request: NfsMountRequest): Promise<KernelMountSpec> {
  const { address, family } = await resolveServer(request.server);
  request.checkAddress(address);
  const port = request.port || 2049;
  const host = family === 6 ? `[${address}]` : address;
  const user = new Map(request.checked.options);
  const options: Array<[string, string | true]> = [['vers', request.version], ['addr', address]];
  if (request.version !== '3') options.push(['clientaddr', await localAddressFor(address, family, port)]);
  // v4 defaults to 2049; a v3 mount without port= would ask the server's portmapper, which kmxd
  // does not (mount.nfs passes the port it found there): name the NFS port either way.
  if (request.port || request.version === '3') options.push(['port', String(port)]);
  options.push(['proto', family === 6 ? 'tcp6' : 'tcp']);
  if (request.version === '3') {
    options.push(['mountaddr', address]);
    if (request.mountPort) options.push(['mountport', String(request.mountPort)]);
    options.push(['mountproto', family === 6 ? 'tcp6' : 'tcp'], ['mountvers', '3']);
    // No statd runs for users' mounts: locks stay local unless the user asks for NLM.
    if (!user.has('lock') && !user.has('nolock')) options.push(['nolock', true]);
  }
  for (const [key, value] of request.checked.options) {
    if (request.version !== '3' && (key === 'lock' || key === 'nolock')) continue; // v4 locks are in the protocol
    options.push([key, value]);
  }
  return {
    fstype: request.version === '3' ? 'nfs' : 'nfs4',
    source: `${host}:${request.exportPath}`,
    options,
    attributes: request.checked.attributes | (request.readOnly ? MOUNT_ATTR_RDONLY : 0),
  };
}

/** Option strings joined as mount(2)'s data argument would carry them. */
export function optionString(options: ReadonlyArray<readonly [string, string | true]>): string {
  return options.map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(',');
}
