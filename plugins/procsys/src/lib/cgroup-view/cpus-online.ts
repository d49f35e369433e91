import * as fs from 'node:fs';
import { cpusetSize } from '../cgroup/cpuset.js';

/** CPUs the kernel knows (glibc's get_nprocs_conf): the cpuN directories in sysfs. */
export function configuredCpus(sys = '/sys/devices/system/cpu'): number {
  try {
    return fs.readdirSync(sys).filter((n) => /^cpu\d+$/.test(n)).length;
  } catch {
    return 1;
  }
}

/** CPUs online (glibc's get_nprocs). */
export function onlineCpus(sys = '/sys/devices/system/cpu'): number {
  try {
    return cpusetSize(fs.readFileSync(`${sys}/online`, 'latin1'));
  } catch {
    return 1;
  }
}
