/**
 * CPU lists as cgroups write them ("0-3,6"), read the way lxcfs reads them (cpuset_parse.c):
 * a CPU is in the set when one of the comma-separated items names it or a range holds it.
 */
export function cpuInCpuset(cpu: number, cpuset: string): boolean {
  for (const item of cpuset.trim().split(',')) {
    const range = /^(\d+)(?:-(\d+))?/.exec(item);
    if (!range) continue;
    const low = Number(range[1]);
    const high = range[2] === undefined ? low : Number(range[2]);
    if (cpu >= low && cpu <= high) return true;
  }
  return false;
}

/** How many CPUs a list names. */
export function cpusetSize(cpuset: string): number {
  let count = 0;
  for (const item of cpuset.trim().split(',')) {
    const range = /^(\d+)(?:-(\d+))?/.exec(item);
    if (!range) continue;
    const low = Number(range[1]);
    const high = range[2] === undefined ? low : Number(range[2]);
    count += Math.abs(high - low) + 1;
  }
  return count;
}
