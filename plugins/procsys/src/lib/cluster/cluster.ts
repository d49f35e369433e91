import { formatTable } from '@kmx/core';
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { Host, HostStatus } from './host.js';
import { Limiter } from './limiter.js';
import { LocalHost } from './local-host.js';
import type { PeerSpec } from './peers.js';
import { RemoteHost } from './remote-host.js';

export interface ClusterOptions {
  localName: string;
  hosts: readonly PeerSpec[];
  credentials: ChannelCredentials;
  timeoutMs: number;
  cacheTtlMs: number;
  maxInFlight: number;
  /** Start even when peers do not answer yet; they join when they do. */
  allowDown: boolean;
  log?: (line: string) => void;
}

/** The hosts of a merged view, in slot order: this one read in place, the others through their agents. */
export class Cluster {
  private constructor(readonly hosts: readonly Host[], readonly local: LocalHost, readonly remotes: readonly RemoteHost[]) {}

  /** Connects to every peer at once; without allowDown, one that does not answer fails the start. */
  static async open(options: ClusterOptions): Promise<Cluster> {
    const limiter = new Limiter(options.maxInFlight);
    let local: LocalHost | undefined;
    const remotes: RemoteHost[] = [];
    const hosts = options.hosts.map((spec, slot): Host => {
      if (spec.name === options.localName) return (local = new LocalHost(spec.name, slot));
      const remote = new RemoteHost(spec.name, spec.address!, slot, {
        timeoutMs: options.timeoutMs, cacheTtlMs: options.cacheTtlMs, limiter, credentials: options.credentials, ...(options.log ? { log: options.log } : {}),
      });
      remotes.push(remote);
      return remote;
    });
    const cluster = new Cluster(hosts, local!, remotes);
    const results = await Promise.allSettled(remotes.map((r) => r.connect()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && !options.allowDown) {
      cluster.close();
      throw failed.reason;
    }
    for (const remote of remotes) remote.startProbing();
    return cluster;
  }

  byName(name: string): Host | undefined {
    return this.hosts.find((h) => h.name === name);
  }

  bySlot(slot: number): Host | undefined {
    return this.hosts[slot];
  }

  /** The hosts whose reads can be tried now (down ones are left out at once). */
  reachable(): Host[] {
    return this.hosts.filter((h) => h.state !== 'down');
  }

  /** The merged btime: the earliest boot of every host known so far. */
  bootTime(): number {
    const known = this.hosts.map((h) => h.bootTime).filter((t) => t > 0);
    return known.length ? Math.min(...known) : this.local.bootTime;
  }

  statuses(): HostStatus[] {
    return this.hosts.map((h) => (h instanceof RemoteHost ? h.status() : this.local.status()));
  }

  /** The text of the view's `status` file: one line per host. */
  statusText(): string {
    const rows = this.statuses().map((s) => [
      s.name, s.state, s.address, String(s.slot), String(s.slot * (1 << 22)), s.rttMs === undefined ? '-' : s.rttMs.toFixed(2), s.since.toISOString(), s.lastError ?? '',
    ]);
    return `${formatTable(['NAME', 'STATE', 'ADDRESS', 'SLOT', 'PID_BASE', 'RTT_MS', 'SINCE', 'LAST_ERROR'], rows)}\n`;
  }

  close(): void {
    for (const remote of this.remotes) remote.close();
  }
}
