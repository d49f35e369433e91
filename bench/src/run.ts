// `npm run bench`: every benchmark under bench/src, kmx next to its peer in one run. Writes
// bench/results.json (each workload: kmx's figure, the peer's, their ratio) and prints a table.
// Figures swing with the shared machine's load: compare the ratios, taken in the same run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAverage } from './lib/measure.js';
import { formatResults, type BenchResult } from './lib/results.js';
import { BENCH_DIR, inWorkDir } from './lib/workdir.js';

interface Benchmark {
  name: string;
  peer: string;
  run(work: string): Promise<BenchResult[]>;
}

const modules = ['./startup.js', './passthrough.js', './fuse-engines.js', './namespaces.js', './sftp.js', './encfs.js', './nfs.js', './smb.js', './procsys.js', './ui.js', './ns-graph.js'];

const only = process.argv.slice(2);
const groups: Array<{ name: string; peer: string; results: BenchResult[]; error?: string }> = [];
const started = new Date().toISOString();
const loadBefore = loadAverage();
for (const path of modules) {
  const bench = (await import(path)) as Benchmark;
  if (only.length > 0 && !only.some((o) => bench.name.includes(o))) continue;
  process.stderr.write(`bench: ${bench.name} vs ${bench.peer} ...\n`);
  try {
    groups.push({ name: bench.name, peer: bench.peer, results: await inWorkDir(bench.name, (work) => bench.run(work)) });
  } catch (err) {
    groups.push({ name: bench.name, peer: bench.peer, results: [], error: err instanceof Error ? err.message : String(err) });
  }
}
const summary = { started, finished: new Date().toISOString(), loadBefore, loadAfter: loadAverage(), benchmarks: groups };
writeFileSync(join(BENCH_DIR, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(formatResults(groups));
for (const g of groups.filter((g) => g.error)) console.log(`\n${g.name} failed: ${g.error}`);
console.log(`\nload average before ${loadBefore}, after ${summary.loadAfter}; written to bench/results.json`);
process.exitCode = groups.some((g) => g.error) ? 1 : 0;
