import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { KmxError, UsageError } from '@kmx/core';
import { checkAddress, hostList, type PeerSpec } from './peers.js';

/**
 * Membership from DNS SRV records, as Kubernetes headless Services and Consul's DNS interface
 * serve them: each record's target is a host (named by the target's first label, which is
 * what its certificate must name) and its port is the agent's.
 */

/** How long one lookup may take, and how often it is tried, before the period counts as failed. */
const LOOKUP_TIMEOUT_MS = 2000;
const LOOKUP_TRIES = 2;

/** The answer that says "the service has no hosts now", as opposed to "DNS did not answer". */
const NO_RECORDS = new Set(['ENOTFOUND', 'ENODATA']);

export interface SrvAnswer {
  /** The hosts, sorted by name, so that every node starting at once agrees on the slots. */
  peers: PeerSpec[];
  /** Records left out, each with why (an invalid name, a target without an address, a twin). */
  skipped: string[];
}

/** A resolver asking `server` (IP or IP:PORT, [IPV6]:PORT), or the system's resolvers. */
export function srvResolver(server?: string): Resolver {
  const resolver = new Resolver({ timeout: LOOKUP_TIMEOUT_MS, tries: LOOKUP_TRIES });
  if (server !== undefined) {
    const host = server.startsWith('[') ? server.slice(1, server.indexOf(']')) : server.replace(/:\d+$/, '');
    if (!isIP(host)) throw new UsageError(`invalid --dns-server "${server}"`, 'give an IP address, with :PORT if not 53, as in 10.0.0.53 or 127.0.0.1:5353');
    resolver.setServers([server]);
  }
  return resolver;
}

/** A DNS failure that says only that DNS did not answer (the hosts then stay as they were). */
export class DnsUnanswered extends KmxError {}

/** The hosts `service` lists now; none when it has no records (a service with no endpoints). */
export async function resolveSrvPeers(service: string, resolver: Resolver): Promise<SrvAnswer> {
  let records: { name: string; port: number }[];
  try {
    records = await resolver.resolveSrv(service);
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (NO_RECORDS.has(code)) return { peers: [], skipped: [] };
    throw new DnsUnanswered(`the SRV lookup of ${service} failed: ${code || (err as Error).message}`, { hint: 'check --dns-server and that the name is served' });
  }
  const skipped: string[] = [];
  const byName = new Map<string, PeerSpec>();
  const resolved = await Promise.all(records.map(async (record) => ({ record, ip: await addressOf(record.name, resolver) })));
  for (const { record, ip } of resolved.sort((a, b) => a.record.name.localeCompare(b.record.name))) {
    const name = record.name.split('.')[0] ?? '';
    const spot = `${record.name}:${record.port}`;
    if (ip === undefined) {
      skipped.push(`${spot}: the target has no address`);
      continue;
    }
    let peer: PeerSpec;
    try {
      peer = { name: checkHostLabel(name), address: checkAddress(isIP(ip) === 6 ? `[${ip}]:${record.port}` : `${ip}:${record.port}`, name) };
    } catch (err) {
      skipped.push(`${spot}: ${(err as Error).message}`);
      continue;
    }
    if (byName.has(peer.name)) skipped.push(`${spot}: another target is also called ${peer.name}`);
    else byName.set(peer.name, peer);
  }
  return { peers: [...byName.values()], skipped };
}

function checkHostLabel(label: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(label)) throw new KmxError(`"${label}" is no usable host name`);
  return label;
}

/** The target's IPv4 address, else its IPv6 one (lowest first, so every node picks the same). */
async function addressOf(target: string, resolver: Resolver): Promise<string | undefined> {
  if (isIP(target)) return target;
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(target), resolver.resolve6(target)]);
  const first = (r: PromiseSettledResult<string[]>): string | undefined => (r.status === 'fulfilled' ? [...r.value].sort()[0] : undefined);
  return first(v4) ?? first(v6);
}

/**
 * The next host list, keeping slots (and so pids and connections) where it can: a host still
 * listed stays in its place (with its new address if it moved), this host always stays, a new
 * host takes the place of one that left, else goes at the end; places left empty are filled
 * from the end, so only the hosts moved into them change their pids.
 */
export function placeHosts(current: readonly PeerSpec[], wanted: readonly PeerSpec[], localName: string): PeerSpec[] {
  const wantedByName = new Map(wanted.map((p) => [p.name, p]));
  const places: (PeerSpec | undefined)[] = current.map((host) => (host.name === localName ? host : wantedByName.get(host.name)));
  const placed = new Set(places.flatMap((p) => (p ? [p.name] : [])));
  const newcomers = wanted.filter((p) => !placed.has(p.name));
  for (let i = 0; i < places.length && newcomers.length > 0; i++) {
    if (places[i] === undefined) places[i] = newcomers.shift();
  }
  const list = [...places, ...newcomers];
  for (let i = 0; i < list.length; i++) {
    if (list[i] !== undefined) continue;
    let last: PeerSpec | undefined;
    while (last === undefined && list.length > i + 1) last = list.pop();
    if (last === undefined) {
      list.length = i;
      break;
    }
    list[i] = last;
  }
  return hostList(localName, list.filter((p): p is PeerSpec => p !== undefined));
}
