import { Flags } from '@oclif/core';
import { UsageError, type FuseOptions } from '@kmx/core';
import { checkName, defaultHostName, hostList, parsePeer, readClusterFile, type PeerSpec } from '../cluster/peers.js';
import { join } from 'node:path';
import { tlsFilesIn, type Security } from '../rpc/credentials.js';
import { REVOKED_FILE } from '../rpc/revocation.js';

/** Defaults of the cluster options (docs/procsys.md documents them). */
export const DEFAULT_TIMEOUT_MS = 1000;
export const DEFAULT_CACHE_TTL_MS = 1000;
export const DEFAULT_MAX_IN_FLIGHT = 64;
export const DEFAULT_SRV_PERIOD_S = 30;

/** How hosts authenticate: shared by mount, run and serve. */
export const securityFlags = {
  name: Flags.string({ description: 'This host\'s name in the cluster (default: its host name); picks NAME.pem from --certs.' }),
  certs: Flags.string({ description: 'Directory written by `kmx procsys certs` (ca.pem, NAME.pem, NAME-key.pem).' }),
  ca: Flags.string({ description: 'Cluster CA certificate (PEM), instead of --certs.', dependsOn: ['cert', 'key'] }),
  cert: Flags.string({ description: 'This node\'s certificate (PEM), instead of --certs.', dependsOn: ['ca', 'key'] }),
  key: Flags.string({ description: 'This node\'s private key (PEM), instead of --certs.', dependsOn: ['ca', 'cert'] }),
  insecure: Flags.boolean({ description: 'Plain TCP without authentication (only on a network you trust).', exclusive: ['certs', 'ca'] }),
  revoked: Flags.string({ description: `Revoked certificates (serial=HEX or sha256=FINGERPRINT a line); default: ${REVOKED_FILE} in --certs, when there. Peers whose certificate it lists are refused.` }),
};

/** How this host's agent serves: shared by serve and mount --serve. */
export const agentFlags = {
  'read-as': Flags.string({ description: 'The unprivileged user (USER or USER:GROUP, names or numbers) that reads /proc for remote clients: they get what it would get. Use one that runs no processes of its own.', default: 'nobody' }),
  'writable-keys': Flags.string({ description: 'A file listing the /proc/sys keys remote clients may write, one a line (kernel/printk_ratelimit_burst, or DIR/ for every key below DIR); everything else is refused. Owned by root (or the agent\'s user), writable by no one else; read again when it changes.' }),
};

/** Which hosts a view merges, and how it reads them: shared by mount and run. */
export const viewFlags = {
  ...securityFlags,
  peer: Flags.string({ description: 'A host to merge, as NAME=HOST:PORT (its agent: kmx procsys serve). Repeat for more.', multiple: true, multipleNonGreedy: true, exclusive: ['cluster', 'srv'] }),
  cluster: Flags.string({ description: 'JSON file listing the hosts: {"hosts": [{"name", "address"}, …], "certs": DIR}. Checked every 2 s: hosts added join, hosts removed leave.', exclusive: ['srv'] }),
  srv: Flags.string({ description: 'A DNS SRV name listing the hosts (as a Kubernetes headless Service or Consul serves one: _kmx._tcp.procsys.default.svc.cluster.local); each target\'s first label is the host\'s name. Looked up again every --srv-period.' }),
  'dns-server': Flags.string({ description: 'The DNS server to ask for --srv, as IP or IP:PORT (default: the system\'s resolvers).', dependsOn: ['srv'] }),
  'srv-period': Flags.integer({ description: 'How often --srv is looked up again, in seconds: hosts join and leave within it.', default: DEFAULT_SRV_PERIOD_S, min: 1, max: 3600 }),
  timeout: Flags.integer({ description: 'How long a read may wait for a host, in ms; a host that misses it is marked down.', default: DEFAULT_TIMEOUT_MS, min: 50, max: 60_000 }),
  'cache-ttl': Flags.integer({ description: 'How long remote answers are kept, in ms (0: not at all).', default: DEFAULT_CACHE_TTL_MS, min: 0, max: 60_000 }),
  'max-inflight': Flags.integer({ description: 'Requests in flight to all hosts together, at most.', default: DEFAULT_MAX_IN_FLIGHT, min: 1, max: 4096 }),
  'allow-down': Flags.boolean({ description: 'Start even if peers do not answer yet; they join when they do.' }),
  writable: Flags.boolean({ description: 'Pass writes through (to /proc/sys, say); by default the view is read-only.' }),
};

export interface SecurityFlagValues {
  name?: string | undefined;
  certs?: string | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  insecure?: boolean | undefined;
  revoked?: string | undefined;
}

export interface ViewFlagValues extends SecurityFlagValues {
  peer?: string[] | undefined;
  cluster?: string | undefined;
  srv?: string | undefined;
  'dns-server'?: string | undefined;
  'srv-period': number;
  timeout: number;
  'cache-ttl': number;
  'max-inflight': number;
  'allow-down'?: boolean | undefined;
  writable?: boolean | undefined;
  /** meminfo, cpuinfo, stat, … for the reader's cgroup, as lxcfs (this host alone). */
  'cgroup-view'?: boolean | undefined;
}

/** --cgroup-view: on by default in `run`, off by default in `mount`. */
export function cgroupViewFlag(byDefault: boolean) {
  return Flags.boolean({
    description: 'Show each reader its own cgroup\'s limits and use in meminfo, swaps, cpuinfo, stat, uptime, loadavg and diskstats, as lxcfs does (this host alone; not with --peer or --cluster).',
    default: byDefault,
    allowNo: true,
  });
}

export function localName(flags: SecurityFlagValues): string {
  return flags.name === undefined ? defaultHostName({ short: true }) : checkName(flags.name, 'host name (--name)');
}

/** TLS files from --certs (or the cluster file's "certs") or --ca/--cert/--key; plain TCP only with --insecure. */
export function securityOf(flags: SecurityFlagValues, certsFromCluster?: string): Security {
  if (flags.insecure) {
    if (flags.revoked) throw new UsageError('--revoked needs TLS: it lists certificates, and --insecure uses none');
    return { kind: 'insecure' };
  }
  const dir = flags.certs ?? certsFromCluster;
  // --revoked FILE must exist; the certs directory's revoked.txt is read once it does.
  const revoked = flags.revoked ? { path: flags.revoked, required: true } : dir ? { path: join(dir, REVOKED_FILE), required: false } : undefined;
  if (flags.ca && flags.cert && flags.key) return { kind: 'tls', files: { ca: flags.ca, cert: flags.cert, key: flags.key }, revoked };
  if (dir) return { kind: 'tls', files: tlsFilesIn(dir, localName(flags)), revoked };
  throw new UsageError('talking to other hosts needs certificates: --certs DIR (made by kmx procsys certs)', 'or --insecure, on a network you trust');
}

export interface ViewPlan {
  /** The hosts in slot order; undefined for a single-host mirror, or until --srv is looked up. */
  hosts: PeerSpec[] | undefined;
  /** --srv: the hosts come from DNS. */
  srv: string | undefined;
  localName: string;
  certsFromCluster: string | undefined;
}

/** Which hosts the view holds: --peer flags, a cluster file, an SRV name, or none (this host alone). */
export function planView(flags: ViewFlagValues): ViewPlan {
  const name = localName(flags);
  if (flags.cluster) {
    const file = readClusterFile(flags.cluster);
    return { hosts: hostList(name, file.hosts), srv: undefined, localName: name, certsFromCluster: file.certs };
  }
  if (flags.peer?.length) return { hosts: hostList(name, flags.peer.map(parsePeer)), srv: undefined, localName: name, certsFromCluster: undefined };
  return { hosts: undefined, srv: flags.srv, localName: name, certsFromCluster: undefined };
}

/** Whether the flags ask for a merged view (other hosts) rather than this host's mirror. */
export function isMerged(flags: ViewFlagValues): boolean {
  return Boolean(flags.peer?.length || flags.cluster || flags.srv);
}

/** FUSE options of a view: direct_io (proc files have no size), read-only unless --writable. */
export function viewFuseOptions(writable: boolean, merged: boolean): FuseOptions {
  return {
    directIo: true,
    // Inode numbers of several hosts collide: a merged view numbers its own.
    useIno: !merged,
    defaultPermissions: true,
    readOnly: !writable,
    attrTimeout: 1,
    entryTimeout: 1,
    negativeTimeout: 0,
  };
}
