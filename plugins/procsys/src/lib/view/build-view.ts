import type { Resolver } from 'node:dns/promises';
import { KmxError, UsageError, type FileSystem, type FuseOptions } from '@kmx/core';
import { CgroupMirror } from '../cgroup-view/cgroup-mirror.js';
import { Cluster } from '../cluster/cluster.js';
import { watchClusterFile, watchSrv } from '../cluster/membership.js';
import { hostList, type PeerSpec } from '../cluster/peers.js';
import { resolveSrvPeers, srvResolver } from '../cluster/srv.js';
import { LocalProc } from '../proc/local-proc.js';
import { channelCredentials } from '../rpc/credentials.js';
import { Callers } from './callers.js';
import { ClusterView } from './cluster-view.js';
import { ProcMirror } from './mirror.js';
import { planView, securityOf, viewFuseOptions, type ViewFlagValues } from './options.js';

export interface View {
  filesystem: FileSystem;
  fuseOptions: FuseOptions;
  /** The mirror under the view: `onDestroy` takes what must stop with the mount. */
  mirror: ProcMirror;
  /** What the mount shows as its source: "proc" or "proc of a,b,c". */
  source: string;
  cluster: Cluster | undefined;
  close(): void;
}

/**
 * The filesystem for `mount` and `run`: this host's mirror, or, with peers, the merged view
 * (after every peer answered, unless --allow-down).
 */
export async function buildView(flags: ViewFlagValues, log?: (line: string) => void): Promise<View> {
  const plan = planView(flags);
  const writable = flags.writable === true;
  const callers = new Callers();
  const resolver = plan.srv === undefined ? undefined : srvResolver(flags['dns-server']);
  const hosts = plan.srv === undefined || resolver === undefined ? plan.hosts : await srvHosts(plan.srv, resolver, plan.localName, flags['allow-down'] === true, log);
  // The cgroup view tells one host's limits; a merged view adds hosts up instead.
  const mirror = flags['cgroup-view'] === true && !hosts ? new CgroupMirror(new LocalProc(), callers, { writable }) : new ProcMirror(undefined, callers, { writable });
  if (!hosts) return { filesystem: mirror, mirror, fuseOptions: viewFuseOptions(writable, false), source: 'proc', cluster: undefined, close: () => undefined };
  const credentials = channelCredentials(securityOf(flags, plan.certsFromCluster));
  const cluster = await Cluster.open({
    localName: plan.localName,
    hosts,
    credentials,
    timeoutMs: flags.timeout,
    cacheTtlMs: flags['cache-ttl'],
    maxInFlight: flags['max-inflight'],
    allowDown: flags['allow-down'] === true,
    ...(log ? { log } : {}),
  });
  // A cluster file is read again when it changes, an SRV name looked up again on a period:
  // hosts join and leave without a remount.
  const logLine = log ?? (() => undefined);
  const stopWatching = flags.cluster ? watchClusterFile(flags.cluster, plan.localName, cluster, logLine)
    : plan.srv !== undefined && resolver ? watchSrv(plan.srv, resolver, plan.localName, cluster, logLine, flags['srv-period'] * 1000) : () => undefined;
  mirror.onDestroy.push(() => {
    stopWatching();
    cluster.close();
  });
  return {
    filesystem: new ClusterView(cluster, mirror, callers, writable),
    mirror,
    fuseOptions: viewFuseOptions(writable, true),
    source: plan.srv === undefined ? `proc of ${hosts.map((h) => h.name).join(',')}` : `proc of SRV ${plan.srv}`,
    cluster,
    close: () => {
      stopWatching();
      cluster.close();
    },
  };
}

/**
 * The hosts --srv lists at start. A lookup that fails, or finds no host, fails the start
 * unless --allow-down: the view then starts with this host and takes the others when DNS
 * lists them.
 */
async function srvHosts(service: string, resolver: Resolver, localName: string, allowDown: boolean, log?: (line: string) => void): Promise<PeerSpec[]> {
  try {
    const { peers, skipped } = await resolveSrvPeers(service, resolver);
    if (skipped.length) log?.(`SRV ${service}: left out ${skipped.join('; ')}`);
    if (peers.length === 0) throw new KmxError(`the SRV name ${service} lists no host`, { hint: 'check the name, or start with --allow-down to wait for hosts' });
    return hostList(localName, peers);
  } catch (err) {
    if (!allowDown || err instanceof UsageError) throw err;
    log?.(`${err instanceof Error ? err.message : String(err)}; starting with this host alone (--allow-down)`);
    return hostList(localName, []);
  }
}
