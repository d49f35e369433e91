import * as fs from 'node:fs';
import { join } from 'node:path';

/** Fixed point as the kernel's load average (11 bits), decays for 1, 5 and 15 minutes at 5 s steps. */
const FSHIFT = 11;
const FIXED_1 = 1 << FSHIFT;
const DECAYS = [1884, 2014, 2037] as const;
const INTERVAL_MS = 5000;
/** How deep below the reader's cgroup tasks count (lxcfs's DEPTH_DIR). */
const DEPTH = 3;

interface Load {
  averages: [number, number, number];
  running: number;
  total: number;
  lastPid: number;
}

/** One decay step of the kernel's calc_load, in the same integer arithmetic. */
export function decay(load: number, factor: number, active: number): number {
  const activeFixed = active * FIXED_1;
  let next = load * factor + activeFixed * (FIXED_1 - factor);
  if (activeFixed >= load) next += FIXED_1 - 1;
  return Math.floor(next / FIXED_1);
}

function formatFixed(load: number): string {
  const rounded = load + Math.floor(FIXED_1 / 200);
  return `${rounded >> FSHIFT}.${String(((rounded & (FIXED_1 - 1)) * 100) >> FSHIFT).padStart(2, '0')}`;
}

/**
 * Load averages per cgroup (of the cpu controller), as lxcfs -l keeps them: a cgroup is
 * followed from its first read on (that read shows 0.00 and the reader as last pid); every
 * 5 s, the tasks of the cgroup and its sub-cgroups (3 levels) that run or wait for I/O (R, D)
 * are counted into three decaying averages. A cgroup that is gone stops being followed.
 */
export class CgroupLoad {
  private readonly loads = new Map<string, Load>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly proc = '/proc') {}

  render(cgroupDir: string, readerTid: number): string {
    let load = this.loads.get(cgroupDir);
    if (!load) {
      load = { averages: [0, 0, 0], running: 0, total: 1, lastPid: readerTid };
      this.loads.set(cgroupDir, load);
      this.timer ??= setInterval(() => this.refresh(), INTERVAL_MS).unref();
    }
    const [a, b, c] = load.averages.map(formatFixed);
    return `${a} ${b} ${c} ${load.running}/${load.total} ${load.lastPid}\n`;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.loads.clear();
  }

  private refresh(): void {
    for (const [dir, load] of this.loads) {
      if (!fs.existsSync(dir)) {
        this.loads.delete(dir);
        continue;
      }
      let running = 0;
      let total = 0;
      let lastPid = 0;
      for (const pid of processesUnder(dir, DEPTH)) {
        let tids: string[];
        try {
          tids = fs.readdirSync(`${this.proc}/${pid}/task`);
        } catch {
          continue;
        }
        for (const tid of tids) {
          total++;
          lastPid = Math.max(lastPid, Number(tid));
          try {
            const state = /^State:\s*(\S)/m.exec(fs.readFileSync(`${this.proc}/${pid}/task/${tid}/status`, 'latin1'))?.[1];
            if (state === 'R' || state === 'D') running++;
          } catch {
            // The task ended meanwhile.
          }
        }
      }
      load.averages = [decay(load.averages[0], DECAYS[0], running), decay(load.averages[1], DECAYS[1], running), decay(load.averages[2], DECAYS[2], running)];
      Object.assign(load, { running, total, lastPid });
    }
    if (this.loads.size === 0) this.stop();
  }
}

/** The pids in `dir`'s cgroup.procs and in those of its sub-cgroups, `depth` levels down. */
function processesUnder(dir: string, depth: number): number[] {
  const pids: number[] = [];
  if (depth > 0) {
    try {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) pids.push(...processesUnder(join(dir, entry.name), depth - 1));
    } catch {
      // Removed meanwhile.
    }
  }
  try {
    for (const line of fs.readFileSync(join(dir, 'cgroup.procs'), 'latin1').split('\n')) if (line) pids.push(Number(line));
  } catch {
    // Removed meanwhile.
  }
  return pids;
}
