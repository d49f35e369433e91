import * as fs from 'node:fs';
import { join } from 'node:path';

/** The controllers the cgroup view reads. */
export type Controller = 'memory' | 'cpu' | 'cpuacct' | 'cpuset' | 'blkio';

/** Where one process's cgroup of one controller lives. */
export interface CgroupDir {
  /** The cgroup's directory on this host (mountpoint + the process's cgroup path). */
  dir: string;
  /** The hierarchy's mountpoint: walks up the tree stop there. */
  root: string;
  /** cgroup v2 (file names differ: memory.max, cpu.max, …). */
  unified: boolean;
}

interface Mount {
  mountpoint: string;
  unified: boolean;
  /** v1: the controllers in the super options; v2: those in cgroup.controllers. */
  controllers: Set<string>;
}

/** v2 names the accounting of v1's cpuacct and blkio after cpu and io. */
const V2_NAME: Record<Controller, string> = { memory: 'memory', cpu: 'cpu', cpuacct: 'cpu', cpuset: 'cpuset', blkio: 'io' };

/** Unescapes mountinfo's octal escapes (\040 for a space). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * This host's cgroup hierarchies, found in mountinfo: each v1 controller where it is mounted,
 * and the v2 tree for the controllers it has enabled (a hybrid host, like this one, has v1
 * controllers and a v2 tree without them). A controller mounted both ways is read from v1,
 * where the kernel charges it.
 */
export class CgroupHierarchies {
  private readonly mounts: Mount[];

  constructor(mountinfo: string, private readonly proc = '/proc') {
    this.mounts = parseMounts(mountinfo);
  }

  static ofThisHost(proc = '/proc'): CgroupHierarchies {
    return new CgroupHierarchies(fs.readFileSync(`${proc}/self/mountinfo`, 'latin1'), proc);
  }

  /** The mount that serves `controller`, v1 first. */
  mountOf(controller: Controller): Mount | undefined {
    return this.mounts.find((m) => !m.unified && m.controllers.has(controller))
      ?? this.mounts.find((m) => m.unified && m.controllers.has(V2_NAME[controller]));
  }

  /** Whether every controller is on v2 (lxcfs's "pure unified" layout). */
  get pureUnified(): boolean {
    return this.mounts.length > 0 && this.mounts.every((m) => m.unified);
  }

  /** The cgroup of task `tid` for `controller`; undefined when the controller is not mounted or the task is gone. */
  locate(tid: number, controller: Controller): CgroupDir | undefined {
    const mount = this.mountOf(controller);
    if (!mount) return undefined;
    let text: string;
    try {
      text = fs.readFileSync(`${this.proc}/${tid}/cgroup`, 'latin1');
    } catch {
      return undefined;
    }
    const path = cgroupPathIn(text, mount.unified ? undefined : controller);
    if (path === undefined) return undefined;
    return { dir: join(mount.mountpoint, pruneInitScope(path)), root: mount.mountpoint, unified: mount.unified };
  }
}

/** The path of a /proc/PID/cgroup text for a v1 controller, or the v2 line's ("0::/…") when `controller` is undefined. */
export function cgroupPathIn(text: string, controller: Controller | undefined): string | undefined {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const matches = controller === undefined ? line.slice(0, first) === '0' && controllers === '' : controllers.split(',').includes(controller);
    if (matches) return line.slice(second + 1);
  }
  return undefined;
}

/** systemd puts a container's init in init.scope: lxcfs reads the limits of the cgroup above it, and so does this. */
export function pruneInitScope(path: string): string {
  if (path === '/init.scope') return '/';
  return path.endsWith('/init.scope') ? path.slice(0, -'/init.scope'.length) : path;
}

function parseMounts(mountinfo: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 0) continue;
    const fstype = fields[separator + 1];
    const mountpoint = unescape(fields[4] ?? '');
    if (fstype === 'cgroup') {
      const options = (fields[separator + 3] ?? '').split(',');
      mounts.push({ mountpoint, unified: false, controllers: new Set(options) });
    } else if (fstype === 'cgroup2') {
      let controllers: string[] = [];
      try {
        controllers = fs.readFileSync(join(mountpoint, 'cgroup.controllers'), 'latin1').trim().split(/\s+/).filter(Boolean);
      } catch {
        controllers = [];
      }
      mounts.push({ mountpoint, unified: true, controllers: new Set(controllers) });
    }
  }
  return mounts;
}
