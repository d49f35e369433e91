/** One workload measured for kmx and for its peer in the same run. ratio = kmx / peer. */
export interface BenchResult {
  workload: string;
  kmx: number;
  peer: number;
  unit: string;
  ratio: number;
  note?: string;
  /** Overrides what the unit implies (a count, say, where more is better). */
  better?: 'higher' | 'lower';
}

/** Throughputs are better high, durations better low. */
export function higherIsBetter(unit: string): boolean {
  return /\/s$/.test(unit);
}

export function result(workload: string, kmx: number, peer: number, unit: string, note?: string, better?: 'higher' | 'lower'): BenchResult {
  return { workload, kmx: round(kmx), peer: round(peer), unit, ratio: round(kmx / peer), ...(note ? { note } : {}), ...(better ? { better } : {}) };
}

function round(n: number): number {
  return Number(n.toPrecision(4));
}

/** A readable table of results from several benchmarks. */
export function formatResults(groups: ReadonlyArray<{ name: string; peer: string; results: readonly BenchResult[] }>): string {
  const lines: string[] = [];
  for (const group of groups) {
    lines.push(`\n${group.name} (peer: ${group.peer})`);
    const rows = group.results.map((r) => [r.workload, `${r.kmx} ${r.unit}`, `${r.peer} ${r.unit}`, `${r.ratio}x`, (r.better ?? (higherIsBetter(r.unit) ? 'higher' : 'lower')) === 'higher' ? 'higher is better' : 'lower is better', r.note ?? '']);
    const header = ['workload', 'kmx', group.peer, 'kmx/peer', '', 'note'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    for (const row of [header, ...rows]) lines.push(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  }
  return lines.join('\n');
}
