// Start-up of the kmx command: commands that do little, each as a new process, against
// `node -e 0` (Node's own start-up) in the same run. The goal the ratios are read against:
// `kmx --version` at most 1.5 times `node -e 0`, the others at most 2.5 times.
import { kmxBin } from './lib/kmx.js';
import { alternate, timeShell } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { runIfMain } from './lib/workdir.js';

export const name = 'kmx start-up';
export const peer = 'node -e 0';

const ROUNDS = 15;

const COMMANDS: ReadonlyArray<{ args: string; goal: number }> = [
  { args: '--version', goal: 1.5 },
  { args: 'mounts', goal: 2.5 },
  { args: 'ns list --json', goal: 2.5 },
  { args: 'sftp mount --help', goal: 2.5 },
];

export async function run(_work: string): Promise<BenchResult[]> {
  const node = `'${process.execPath}'`;
  const targets = ['node', ...COMMANDS.map((c) => c.args)];
  const times = alternate(targets, ROUNDS, (t) => timeShell(t === 'node' ? `${node} -e 0` : `${node} '${kmxBin()}' ${t} > /dev/null`));
  const baseline = times['node'] ?? Number.NaN;
  return COMMANDS.map((c) => result(`kmx ${c.args}`, (times[c.args] ?? Number.NaN) * 1000, baseline * 1000, 'ms', `goal: at most ${c.goal}x`));
}

await runIfMain(import.meta.url, 'startup', run);
