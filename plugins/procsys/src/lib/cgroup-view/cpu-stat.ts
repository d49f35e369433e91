import { cpuInCpuset } from '../cgroup/cpuset.js';
import type { CpuTicks } from '../cgroup/cpu.js';

/** One CPU's time as the view counts it, in ticks. */
interface Usage {
  user: number;
  system: number;
  idle: number;
  online: boolean;
}

/** What the view keeps of one cgroup between reads: the usage last seen, and the time shown so far. */
interface History {
  usage: Usage[];
  view: Array<{ user: number; system: number; idle: number }>;
}

const CPU_LINE = /^cpu(\d+) (.*)$/;

/**
 * /proc/stat for cgroups, in the manner of lxcfs's CPU view (its --enable-cfs): the time each
 * cgroup used on each of its CPUs since the view first served it (the first read shows zeros),
 * idle being the rest; the CPUs shown are the cgroup's visible count (cpuset and quota), time
 * spent on CPUs beyond it is folded into those shown, and with a fractional quota (half a CPU)
 * idle time shrinks so that the CPUs look as busy as the quota lets them be.
 */
export class CpuStatView {
  private readonly histories = new Map<string, History>();

  /**
   * `ticks`: the cgroup's per-CPU time (cpuacct); `visible`: CPUs to show (0: all in the
   * cpuset); `exact`: the quota in CPUs (0: none).
   */
  render(cgroup: string, hostText: string, cpuset: string, ticks: readonly CpuTicks[], visible: number, exact: number): string {
    const lines = hostText.split('\n');
    const cpuCount = ticks.length;
    const usage: Usage[] = Array.from({ length: cpuCount }, (_, i) => ({ user: ticks[i]!.user, system: ticks[i]!.system, idle: 0, online: false }));
    let hostCpus = 0;
    let rest = 1;
    for (; rest < lines.length; rest++) {
      const match = CPU_LINE.exec(lines[rest]!);
      if (!match) break;
      const cpu = Number(match[1]);
      if (cpu >= cpuCount) continue;
      hostCpus++;
      if (!cpuInCpuset(cpu, cpuset)) continue;
      const fields = match[2]!.split(' ').map(Number);
      if (fields.length < 10) continue;
      const [user, nice, system, idle, iowait, irq, softirq, steal, guest, guestNice] = fields as [number, number, number, number, number, number, number, number, number, number];
      const used = user + nice + system + iowait + irq + softirq + steal + guest + guestNice;
      const own = usage[cpu]!.user + usage[cpu]!.system;
      // The host's busy time that is not the cgroup's is idle time to the cgroup.
      usage[cpu]!.idle = used >= own ? idle + (used - own) : idle;
      usage[cpu]!.online = true;
    }
    const shown = visible > 0 && visible <= hostCpus ? visible : hostCpus;
    const history = this.historyOf(cgroup, usage);
    const diff = this.advance(history, usage, shown);
    const sums = this.fold(history, diff, shown, hostCpus, exact);
    let out = `cpu  ${sums.user} 0 ${sums.system} ${sums.idle} 0 0 0 0 0 0\n`;
    out += this.perCpuLines(history, shown);
    return out + lines.slice(rest).join('\n');
  }

  private historyOf(cgroup: string, usage: Usage[]): History {
    let history = this.histories.get(cgroup);
    const firstOnline = usage.findIndex((u) => u.online);
    // Counters that went back mean the cgroup was made anew: start over.
    if (!history || history.usage.length !== usage.length || (firstOnline >= 0 && usage[firstOnline]!.user < history.usage[firstOnline]!.user)) {
      history = { usage: usage.map((u) => ({ ...u })), view: usage.map(() => ({ user: 0, system: 0, idle: 0 })) };
      if (this.histories.size > 1024) this.histories.clear();
      this.histories.set(cgroup, history);
    }
    return history;
  }

  /** Time used since the last read, per CPU; time on CPUs past the `shown` first is returned as surplus. */
  private advance(history: History, usage: Usage[], shown: number): { perCpu: Array<{ user: number; system: number; idle: number }>; total: number; surplusUser: number; surplusSystem: number } {
    const perCpu = usage.map(() => ({ user: 0, system: 0, idle: 0 }));
    let total = 0;
    let surplusUser = 0;
    let surplusSystem = 0;
    let index = -1;
    usage.forEach((now, cpu) => {
      const before = history.usage[cpu]!;
      before.online = now.online;
      if (!now.online) return;
      const d = perCpu[cpu]!;
      d.user = Math.max(0, now.user - before.user);
      d.system = Math.max(0, now.system - before.system);
      d.idle = Math.max(0, now.idle - before.idle);
      total += d.user + d.system + d.idle;
      before.user += d.user;
      before.system += d.system;
      before.idle += d.idle;
      if (++index >= shown) {
        surplusUser += d.user;
        surplusSystem += d.system;
      }
    });
    return { perCpu, total, surplusUser, surplusSystem };
  }

  /** Moves surplus time onto the shown CPUs' idle time, adds the differences to the view, and returns its sums. */
  private fold(history: History, diff: ReturnType<CpuStatView['advance']>, shown: number, hostCpus: number, exact: number): { user: number; system: number; idle: number } {
    const threshold = Math.floor(diff.total / hostCpus) * shown;
    const surplus = { user: diff.surplusUser, system: diff.surplusSystem };
    const take = (d: { user: number; system: number; idle: number }, kind: 'user' | 'system'): void => {
      const room = Math.min(threshold - d.user - d.system, d.idle);
      const moved = Math.min(room, surplus[kind]);
      d[kind] += moved;
      d.idle -= moved;
      surplus[kind] -= moved;
    };
    const shownCpus = history.usage.map((u, cpu) => ({ u, cpu })).filter(({ u }) => u.online).slice(0, shown).map(({ cpu }) => cpu);
    for (const cpu of shownCpus) {
      const d = diff.perCpu[cpu]!;
      if (d.user + d.system >= threshold) continue;
      take(d, 'user');
      if (d.user + d.system >= threshold) continue;
      take(d, 'system');
    }
    let step = { user: 0, system: 0, idle: 0 };
    let busiestIdle = 0;
    let idlest = 0;
    for (const cpu of shownCpus) {
      const d = diff.perCpu[cpu]!;
      const view = history.view[cpu]!;
      view.user += d.user;
      view.system += d.system;
      view.idle += d.idle;
      step = { user: step.user + d.user, system: step.system + d.system, idle: step.idle + d.idle };
      if (d.idle > busiestIdle) {
        busiestIdle = d.idle;
        idlest = cpu;
      }
    }
    const sums = history.view.reduce((a, v) => ({ user: a.user + v.user, system: a.system + v.system, idle: a.idle + v.idle }), { user: 0, system: 0, idle: 0 });
    // A fractional quota (half a CPU on one shown CPU): take away the idle time it cannot have.
    if (exact > 0 && exact < shown) {
      const delta = Math.floor((step.user + step.system + step.idle) * (1 - exact / shown));
      sums.idle = Math.max(0, sums.idle - delta);
      const view = history.view[idlest]!;
      view.idle = Math.max(0, view.idle - delta);
    }
    return sums;
  }

  /** cpu0 … cpuN-1 lines: each shown CPU with the hidden ones before it; the last also takes all after it. */
  private perCpuLines(history: History, shown: number): string {
    let out = '';
    const last = history.usage.length - 1;
    let index = -1;
    let acc = { user: 0, system: 0, idle: 0 };
    history.usage.forEach((u, cpu) => {
      const v = history.view[cpu]!;
      acc = { user: acc.user + v.user, system: acc.system + v.system, idle: acc.idle + v.idle };
      if (!u.online && cpu < last) return;
      index = Math.min(index + 1, shown - 1);
      if (index === shown - 1 && cpu < last) return;
      out += `cpu${index} ${acc.user} 0 ${acc.system} ${acc.idle} 0 0 0 0 0 0\n`;
      acc = { user: 0, system: 0, idle: 0 };
    });
    return out;
  }
}

/**
 * /proc/stat where the cgroup's per-CPU time is unknown (v2): the host's lines of the CPUs in
 * the cpuset, renumbered from 0, and a `cpu` line that adds those up.
 */
export function cpusetStat(hostText: string, cpuset: string): string {
  const lines = hostText.split('\n');
  const sums = new Array<number>(10).fill(0);
  let body = '';
  let shown = -1;
  for (const line of lines.slice(1)) {
    const match = CPU_LINE.exec(line);
    if (!match) {
      body += `${line}\n`;
      continue;
    }
    if (!cpuInCpuset(Number(match[1]), cpuset)) continue;
    body += `cpu${++shown} ${match[2]}\n`;
    match[2]!.split(' ').slice(0, 10).forEach((v, i) => {
      sums[i]! += Number(v);
    });
  }
  return `cpu  ${sums.join(' ')}\n${body.replace(/\n$/, '')}`;
}
