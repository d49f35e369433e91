import * as fs from 'node:fs';

const USER_HZ = 100;

/**
 * The init (pid 1) of `tid`'s pid namespace, as this server numbers it: a reader in this
 * server's namespace has pid 1 for its init; in a nested one, the process whose innermost
 * pid is 1 in the same namespace. Undefined when not found.
 */
export function initOfPidNamespace(tid: number, proc = '/proc'): number | undefined {
  let status: string;
  let ns: string;
  try {
    status = fs.readFileSync(`${proc}/${tid}/status`, 'latin1');
    ns = fs.readlinkSync(`${proc}/${tid}/ns/pid`);
  } catch {
    return undefined;
  }
  const nspid = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
  if (nspid.length <= 1) return 1;
  for (const name of fs.readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`${proc}/${name}/ns/pid`) !== ns) continue;
      const own = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`${proc}/${name}/status`, 'latin1'))?.[1]?.trim().split(/\s+/);
      if (own?.[own.length - 1] === '1') return Number(name);
    } catch {
      // The process ended meanwhile.
    }
  }
  return undefined;
}

/** Seconds since boot, from /proc/uptime (boot-time clock, counting suspend). */
export function secondsSinceBoot(proc = '/proc'): number {
  return Number(fs.readFileSync(`${proc}/uptime`, 'latin1').split(' ')[0]);
}

/** When `pid` started, in seconds since boot (field 22 of its stat); undefined when gone. */
export function startSeconds(pid: number, proc = '/proc'): number | undefined {
  try {
    const stat = fs.readFileSync(`${proc}/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]) / USER_HZ;
  } catch {
    return undefined;
  }
}

/**
 * /proc/uptime as lxcfs gives it: the age of the reader's pid-namespace init (a container's
 * uptime), and idle time that age less the CPU time its cpuacct cgroup used (the whole age
 * when that is more: several CPUs can use more time than passed).
 */
export function cgroupUptime(ageSeconds: number, busySeconds: number): string {
  const idle = ageSeconds >= busySeconds ? ageSeconds - busySeconds : ageSeconds;
  return `${ageSeconds.toFixed(2)} ${idle.toFixed(2)}\n`;
}
