import { formatTable } from '@kmx/core';
import type { ChannelCredentials } from '@grpc/grpc-js';
import type { Host, HostStatus } from './host.js';
import { Limiter } from './limiter.js';
import { LocalHost } from './local-host.js';
import type { PeerSpec } from './peers.js';
import { RemoteHost } from './remote-host.js';
import { ScanActivity } from './scan-snapshot.js';

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
  private members: { hosts: readonly Host[]; local: LocalHost; remotes: readonly RemoteHost[] };
  private closed = false;
  private readonly scanActivity = new ScanActivity();

  private constructor(private readonly options: ClusterOptions, private readonly limiter: Limiter) {
    this.members = this.build(options.hosts, []);
  }

  get hosts(): readonly Host[] {
    return this.members.hosts;
  }

  get local(): LocalHost {
    return this.members.local;
  }

  get remotes(): readonly RemoteHost[] {
    return this.members.remotes;
  }

  /** Connects to every peer at once; without allowDown, one that does not answer fails the start. */
  static async open(options: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(options, new Limiter(options.maxInFlight));
    const results = await Promise.allSettled(cluster.remotes.map((r) => r.connect()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && !options.allowDown) {
      cluster.close();
      throw failed.reason;
    }
    for (const remote of cluster.remotes) remote.startProbing();
    return cluster;
  }

  /**
   * The hosts for `specs` in slot order: a host already there with the same name, address and
   * slot is kept (its connection, state and cache), any other is made new.
   */
  private build(specs: readonly PeerSpec[], current: readonly Host[]): { hosts: Host[]; local: LocalHost; remotes: RemoteHost[] } {
    const options = this.options;
    let local: LocalHost | undefined;
    const remotes: RemoteHost[] = [];
    const hosts = specs.map((spec, slot): Host => {
      const kept = current[slot];
      if (spec.name === options.localName) return (local = kept instanceof LocalHost && kept.name === spec.name ? kept : new LocalHost(spec.name, slot));
      const remote = kept instanceof RemoteHost && kept.name === spec.name && kept.address === spec.address ? kept : new RemoteHost(spec.name, spec.address!, slot, {
        timeoutMs: options.timeoutMs, cacheTtlMs: options.cacheTtlMs, limiter: this.limiter, credentials: options.credentials, scanActivity: this.scanActivity, ...(options.log ? { log: options.log } : {}),
      });
      remotes.push(remote);
      return remote;
    });
    return { hosts, local: local!, remotes };
  }

  /**
   * Takes a new host list (a cluster file changed): hosts kept in their slot go on as they
   * were, new ones join as peers started with --allow-down do, the others are closed.
   * Returns the names that joined and left.
   */
  replaceHosts(specs: readonly PeerSpec[]): { joined: string[]; left: string[] } {
    if (this.closed) return { joined: [], left: [] };
    const before = this.members;
    const after = this.build(specs, before.hosts);
    this.members = after;
    const left = before.remotes.filter((r) => !after.remotes.includes(r));
    const joined = after.remotes.filter((r) => !before.remotes.includes(r));
    for (const remote of left) remote.close();
    for (const remote of joined) void remote.connect().catch(() => undefined).finally(() => remote.startProbing());
    return { joined: joined.map((r) => r.name), left: left.map((r) => r.name) };
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
    this.closed = true;
    for (const remote of this.remotes) remote.close();
  }
}
