import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { KmxError, SysError } from '../errors/index.js';

// What root allows users to ask kmxd for, beyond the fixed rules of policy.ts: how much each
// user may mount, and which NFS servers and ports kmxd's kernel client may be sent to. Read
// once at start from a file of `key value…` lines (# starts a comment); a missing file means
// the defaults below.

export const DEFAULT_CONFIG_PATH = '/etc/kmx/kmxd.conf';

export interface DaemonPolicy {
  /** Mounts one user may hold at once (NFS and tmpfs together). */
  maxMountsPerUser: number;
  /** The sum of one user's tmpfs sizes, in MiB. */
  maxTmpfsMibPerUser: number;
  /** NFS servers allowed: address ranges and host names; undefined: any routable address. */
  nfsServers: { ranges: BlockList; names: Set<string>; shown: string } | undefined;
  /** NFS ports a mount may name (the default, 2049, must be listed to be used). */
  nfsPorts: number[];
  /** NFSv3 mountd ports a mount may name; without one the kernel asks the server's rpcbind. */
  nfsMountPorts: number[];
  /** SMB servers allowed, as nfsServers; undefined: any routable address. */
  smbServers: { ranges: BlockList; names: Set<string>; shown: string } | undefined;
  /** SMB ports a mount may name (the default, 445, must be listed to be used). */
  smbPorts: number[];
}

export const DEFAULT_POLICY: DaemonPolicy = {
  maxMountsPerUser: 16,
  maxTmpfsMibPerUser: 1024,
  nfsServers: undefined,
  nfsPorts: [2049],
  nfsMountPorts: [20048],
  smbServers: undefined,
  smbPorts: [445],
};

/**
 * Never a server, whatever the configuration's ranges say: this host itself, no host at all,
 * link-local neighbours, multicast and broadcast. (A name or range root lists explicitly is
 * still checked against these after resolution.)
 */
const NEVER = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['127.0.0.0', 8], ['169.254.0.0', 16], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) NEVER.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fe80::', 10], ['ff00::', 8]] as const) NEVER.addSubnet(net, prefix, 'ipv6');

/** An IPv4 address written as IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it is. */
function plainAddress(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** Refuses a server address (as resolved) the policy does not allow; `name` is what the user gave. */
export function checkServerAllowed(policy: DaemonPolicy, name: string, resolved: string, kind: 'nfs' | 'smb' = 'nfs'): void {
  const { address, family } = plainAddress(resolved);
  if (NEVER.check(address, family)) {
    throw SysError.of('EACCES', 'server', name, { detail: `${address} is this host, no host, link-local or multicast: kmxd does not mount from there` });
  }
  const allowed = kind === 'smb' ? policy.smbServers : policy.nfsServers;
  if (allowed && !allowed.ranges.check(address, family) && !allowed.names.has(name.toLowerCase().replace(/\.$/, ''))) {
    throw SysError.of('EACCES', 'server', name, { detail: `kmxd mounts only from ${allowed.shown} (${kind}-servers in ${DEFAULT_CONFIG_PATH})` });
  }
}

/** Refuses NFS and mountd ports the policy does not list (0: the protocol's default). */
export function checkPortsAllowed(policy: DaemonPolicy, port: number, mountPort: number): void {
  const nfsPort = port || 2049;
  if (!policy.nfsPorts.includes(nfsPort)) throw SysError.of('EACCES', 'port', String(nfsPort), { detail: `kmxd mounts only from NFS port ${policy.nfsPorts.join(', ')} (nfs-ports in ${DEFAULT_CONFIG_PATH})` });
  if (mountPort && !policy.nfsMountPorts.includes(mountPort)) {
    throw SysError.of('EACCES', 'port', String(mountPort), { detail: `mountd ports allowed: ${policy.nfsMountPorts.join(', ') || 'none (rpcbind finds it)'} (nfs-mount-ports in ${DEFAULT_CONFIG_PATH})` });
  }
}

/** Refuses an SMB port the policy does not list (0: 445). */
export function checkSmbPortAllowed(policy: DaemonPolicy, port: number): void {
  const smbPort = port || 445;
  if (!policy.smbPorts.includes(smbPort)) throw SysError.of('EACCES', 'port', String(smbPort), { detail: `kmxd mounts only from SMB port ${policy.smbPorts.join(', ')} (smb-ports in ${DEFAULT_CONFIG_PATH})` });
}

function whole(key: string, value: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw new Error(`${key} takes a whole number from 1 to ${max}, not "${value}"`);
  return n;
}

function ports(key: string, values: string[]): number[] {
  if (values.length === 0) throw new Error(`${key} needs at least one port`);
  return values.map((v) => whole(key, v, 65535));
}

function servers(values: string[]): NonNullable<DaemonPolicy['nfsServers']> {
  if (values.length === 0) throw new Error('nfs-servers needs at least one address, range or host name');
  const ranges = new BlockList();
  const names = new Set<string>();
  for (const value of values) {
    const [net = '', prefix] = value.split('/');
    const family = isIP(net);
    if (family) {
      const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
      if (!/^\d+$/.test(prefix ?? '0') || bits > (family === 4 ? 32 : 128)) throw new Error(`"${value}" is not an address range`);
      ranges.addSubnet(net, bits, family === 4 ? 'ipv4' : 'ipv6');
    } else if (prefix === undefined && /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(value)) {
      names.add(value.toLowerCase().replace(/\.$/, ''));
    } else {
      throw new Error(`"${value}" is neither an address, a range (a.b.c.d/n) nor a host name`);
    }
  }
  return { ranges, names, shown: values.join(', ') };
}

/** The policy in `text` (the configuration file's contents), over the defaults. */
export function parsePolicy(text: string): DaemonPolicy {
  const policy: DaemonPolicy = { ...DEFAULT_POLICY };
  const seen = new Set<string>();
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [key = '', ...values] = line.split(/[\s,]+/).filter(Boolean);
    try {
      if (seen.has(key)) throw new Error(`${key} is set twice`);
      seen.add(key);
      switch (key) {
        case 'max-mounts-per-user': policy.maxMountsPerUser = whole(key, values.join(' '), 10_000); break;
        case 'max-tmpfs-mib-per-user': policy.maxTmpfsMibPerUser = whole(key, values.join(' '), 1 << 30); break;
        case 'nfs-servers': policy.nfsServers = servers(values); break;
        case 'nfs-ports': policy.nfsPorts = ports(key, values); break;
        case 'nfs-mount-ports': policy.nfsMountPorts = ports(key, values); break;
        case 'smb-servers': policy.smbServers = servers(values); break;
        case 'smb-ports': policy.smbPorts = ports(key, values); break;
        default: throw new Error(`unknown setting "${key}" (known: max-mounts-per-user, max-tmpfs-mib-per-user, nfs-servers, nfs-ports, nfs-mount-ports, smb-servers, smb-ports)`);
      }
    } catch (err) {
      throw new KmxError(`line ${index + 1}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return policy;
}

/** The policy from `path`: the defaults if there is no such file; a bad file is an error. */
export function loadPolicy(path: string): DaemonPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return { ...DEFAULT_POLICY };
    throw new KmxError(`cannot read ${path}: ${(err as { code?: string }).code ?? String(err)}`);
  }
  try {
    return parsePolicy(text);
  } catch (err) {
    throw new KmxError(`${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
