import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Interface names of a net/dev text. */
export function interfaces(netDev: string): string[] {
  return netDev.split('\n').slice(2).filter((l) => l.includes(':')).map((l) => l.slice(0, l.indexOf(':')).trim());
}

/** One numeric field of meminfo. */
export function meminfoField(text: string, key: string): number {
  const match = new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(text);
  if (!match) throw new Error(`no ${key} in meminfo`);
  return Number(match[1]);
}

export function processorCount(cpuinfo: string): number {
  return cpuinfo.split('\n').filter((l) => /^processor\s*:/.test(l)).length;
}

/** The pid directories of a /proc-like directory listing. */
export function pidNames(names: readonly string[]): number[] {
  return names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
}

/** The status file as rows keyed by host name. */
export async function readStatus(path: string): Promise<Map<string, { state: string; slot: number; address: string }>> {
  const rows = new Map<string, { state: string; slot: number; address: string }>();
  for (const line of (await readFile(path, 'utf8')).trim().split('\n').slice(1)) {
    const [name, state, address, slot] = line.split(/\s+/);
    rows.set(name!, { state: state!, slot: Number(slot), address: address! });
  }
  return rows;
}

/** Polls `check` (which throws while not yet true) until it passes or `ms` run out. */
export async function eventually(check: () => Promise<void>, ms = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await check();
      return;
    } catch (err) {
      last = err;
      await sleep(100);
    }
  }
  throw new Error(`${what} not reached in ${ms} ms: ${last instanceof Error ? last.message : String(last)}`);
}
