import { encodePid } from './pid-space.js';

/** One host's copy of a file, for merging. */
export interface HostText {
  name: string;
  slot: number;
  /** The viewer's own host: its interface names stay as they are. */
  local: boolean;
  text: string;
}

export interface MergeContext {
  /** The earliest boot time of all hosts: the merged btime. */
  bootTime: number;
}

/** IFNAMSIZ − 1: tools copy interface names into 16-byte buffers. */
const IFNAME_MAX = 15;

/** A remote host's interface name in the merged view: `eth0@h2`, cut to 15 characters. */
export function interfaceName(iface: string, host: HostText): string {
  return host.local ? iface : `${iface}@${host.name}`.slice(0, IFNAME_MAX);
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
const numbers = (text: string): number[] => text.trim().split(/\s+/).map(Number);
const sumInto = (total: number[], values: readonly number[]): void => {
  values.forEach((v, i) => (total[i] = (total[i] ?? 0) + (Number.isFinite(v) ? v : 0)));
};
const fixed2 = (n: number): string => n.toFixed(2);

/** loadavg: the three load averages and running/total threads added up; the last pid is the highest merged one. */
function loadavg(parts: readonly HostText[]): string {
  const loads = [0, 0, 0];
  let running = 0;
  let total = 0;
  let last = 0;
  for (const part of parts) {
    const [l1, l5, l15, threads, lastPid] = part.text.trim().split(/\s+/);
    sumInto(loads, [Number(l1), Number(l5), Number(l15)]);
    const [r, t] = (threads ?? '0/0').split('/').map(Number);
    running += r ?? 0;
    total += t ?? 0;
    last = Math.max(last, encodePid(part.slot, Number(lastPid) || 0));
  }
  return `${loads.map(fixed2).join(' ')} ${running}/${total} ${last}\n`;
}

/** uptime: the longest-running host's uptime (the cluster is as old as its oldest boot); idle time added up. */
function uptime(parts: readonly HostText[]): string {
  let up = 0;
  let idle = 0;
  for (const part of parts) {
    const [u, i] = numbers(part.text);
    up = Math.max(up, u ?? 0);
    idle += i ?? 0;
  }
  return `${fixed2(up)} ${fixed2(idle)}\n`;
}

/** Fields of meminfo that are sizes of one thing, not amounts: the largest is shown, not a sum. */
const MEMINFO_NOT_SUMMED = new Set(['Hugepagesize']);

/** meminfo: every field added up across hosts (kB and counts alike), in the first host's order. */
function meminfo(parts: readonly HostText[]): string {
  const order: string[] = [];
  const values = new Map<string, { value: number; unit: string }>();
  for (const part of parts) {
    for (const line of lines(part.text)) {
      const match = /^([^:]+):\s*(\d+)\s*(kB)?$/.exec(line);
      if (!match) continue;
      const [, key, value, unit] = match as unknown as [string, string, string, string | undefined];
      const known = values.get(key);
      if (!known) {
        order.push(key);
        values.set(key, { value: Number(value), unit: unit ?? '' });
      } else {
        known.value = MEMINFO_NOT_SUMMED.has(key) ? Math.max(known.value, Number(value)) : known.value + Number(value);
      }
    }
  }
  return order.map((key) => {
    const { value, unit } = values.get(key)!;
    return `${`${key}:`.padEnd(16)}${String(value).padStart(8)}${unit ? ` ${unit}` : ''}\n`;
  }).join('');
}

/**
 * stat: the `cpu` line, intr, softirq and the counters added up; every host's `cpuN` lines
 * renumbered one after another (host order), as cpuinfo's processors are; btime the earliest.
 */
function stat(parts: readonly HostText[], context: MergeContext): string {
  const cpu: number[] = [];
  const perCpu: string[] = [];
  const vectors = new Map<string, number[]>();
  const counters = new Map<string, number>();
  const order: string[] = [];
  for (const part of parts) {
    for (const line of lines(part.text)) {
      const space = line.indexOf(' ');
      const key = space < 0 ? line : line.slice(0, space);
      const rest = space < 0 ? '' : line.slice(space);
      if (key === 'cpu') sumInto(cpu, numbers(rest));
      else if (/^cpu\d+$/.test(key)) perCpu.push(`cpu${perCpu.length}${rest}`);
      else if (key === 'intr' || key === 'softirq') {
        if (!vectors.has(key)) order.push(key);
        sumInto(vectors.get(key) ?? vectors.set(key, []).get(key)!, numbers(rest));
      } else if (key !== 'btime') {
        if (!counters.has(key)) order.push(key);
        counters.set(key, (counters.get(key) ?? 0) + (Number(rest) || 0));
      }
    }
  }
  const out = [`cpu  ${cpu.join(' ')}`, ...perCpu];
  for (const key of order) {
    if (key === 'ctxt') out.push(`ctxt ${counters.get(key)}`, `btime ${context.bootTime}`);
    else if (vectors.has(key)) out.push(`${key} ${vectors.get(key)!.join(' ')}`);
    else out.push(`${key} ${counters.get(key)}`);
  }
  if (!order.includes('ctxt')) out.push(`btime ${context.bootTime}`);
  return `${out.join('\n')}\n`;
}

/** cpuinfo: every host's processors, one after another, numbered from 0. */
function cpuinfo(parts: readonly HostText[]): string {
  let next = 0;
  const blocks: string[] = [];
  for (const part of parts) {
    for (const block of part.text.split(/\n\n+/)) {
      if (block.trim() === '') continue;
      blocks.push(block.replace(/^processor(\s*):\s*\d+/m, (_all, space: string) => `processor${space}: ${next++}`));
    }
  }
  return blocks.map((b) => `${b}\n\n`).join('');
}

/** net/dev: the two header lines once, then every host's interfaces (remote ones renamed). */
function netDev(parts: readonly HostText[]): string {
  const all = parts.map((p) => lines(p.text));
  const header = all.find((l) => l.length >= 2)?.slice(0, 2) ?? [];
  const rows = parts.flatMap((part, i) => all[i]!.slice(2).map((line) => {
    const colon = line.indexOf(':');
    return `${interfaceName(line.slice(0, colon).trim(), part).padStart(6)}:${line.slice(colon + 1)}`;
  }));
  return [...header, ...rows].map((l) => `${l}\n`).join('');
}

/** net/route: one header, every host's routes; the Iface column renamed for remote hosts. */
function netRoute(parts: readonly HostText[]): string {
  const all = parts.map((p) => lines(p.text));
  const header = all.find((l) => l.length >= 1)?.[0];
  const rows = parts.flatMap((part, i) => all[i]!.slice(1).map((line) => {
    const tab = line.indexOf('\t');
    return interfaceName(line.slice(0, tab), part) + line.slice(tab);
  }));
  return (header === undefined ? [] : [header, ...rows]).map((l) => `${l}\n`).join('');
}

/** net/arp: one header, every host's entries; the Device column (last) renamed for remote hosts. */
function netArp(parts: readonly HostText[]): string {
  const all = parts.map((p) => lines(p.text));
  const header = all.find((l) => l.length >= 1)?.[0];
  const rows = parts.flatMap((part, i) => all[i]!.slice(1).map((line) => line.replace(/(\S+)$/, (device) => interfaceName(device, part))));
  return (header === undefined ? [] : [header, ...rows]).map((l) => `${l}\n`).join('');
}

/** net/tcp, udp (and their v6 twins): one header, every host's sockets, the `sl` column renumbered. */
function netSockets(parts: readonly HostText[]): string {
  const all = parts.map((p) => lines(p.text));
  const header = all.find((l) => l.length >= 1)?.[0];
  let next = 0;
  const rows = all.flatMap((l) => l.slice(1).map((line) => line.replace(/^\s*\d+:/, () => `${String(next++).padStart(4)}:`)));
  return (header === undefined ? [] : [header, ...rows]).map((l) => `${l}\n`).join('');
}

type Merger = (parts: readonly HostText[], context: MergeContext) => string;

/** The merged files, by path in the view. docs/procsys.md's "Merge rules" table describes each. */
export const MERGED_FILES: ReadonlyMap<string, Merger> = new Map<string, Merger>([
  ['/loadavg', loadavg],
  ['/uptime', uptime],
  ['/meminfo', meminfo],
  ['/stat', stat],
  ['/cpuinfo', cpuinfo],
  ['/net/dev', netDev],
  ['/net/route', netRoute],
  ['/net/arp', netArp],
  ['/net/tcp', netSockets],
  ['/net/tcp6', netSockets],
  ['/net/udp', netSockets],
  ['/net/udp6', netSockets],
]);
