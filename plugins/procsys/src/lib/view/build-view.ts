import type { FileSystem, FuseOptions } from '@kmx/core';
import { CgroupMirror } from '../cgroup-view/cgroup-mirror.js';
import { Cluster } from '../cluster/cluster.js';
import { watchClusterFile } from '../cluster/membership.js';
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
  // The cgroup view tells one host's limits; a merged view adds hosts up instead.
  const mirror = flags['cgroup-view'] === true && !plan.hosts ? new CgroupMirror(new LocalProc(), callers, { writable }) : new ProcMirror(undefined, callers, { writable });
  if (!plan.hosts) return { filesystem: mirror, mirror, fuseOptions: viewFuseOptions(writable, false), source: 'proc', cluster: undefined, close: () => undefined };
  const credentials = channelCredentials(securityOf(flags, plan.certsFromCluster));
  const cluster = await Cluster.open({
    localName: plan.localName,
    hosts: plan.hosts,
    credentials,
    timeoutMs: flags.timeout,
    cacheTtlMs: flags['cache-ttl'],
    maxInFlight: flags['max-inflight'],
    allowDown: flags['allow-down'] === true,
    ...(log ? { log } : {}),
  });
  // A cluster file is read again when it changes: hosts join and leave without a remount.
  const stopWatching = flags.cluster ? watchClusterFile(flags.cluster, plan.localName, cluster, log ?? (() => undefined)) : () => undefined;
  mirror.onDestroy.push(() => {
    stopWatching();
    cluster.close();
  });
  return {
    filesystem: new ClusterView(cluster, mirror, callers, writable),
    mirror,
    fuseOptions: viewFuseOptions(writable, true),
    source: `proc of ${plan.hosts.map((h) => h.name).join(',')}`,
    cluster,
    close: () => {
      stopWatching();
      cluster.close();
    },
  };
}
