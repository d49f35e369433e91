import * as fs from 'node:fs';
import { dirname, relative } from 'node:path';
import type { CgroupDir } from './hierarchies.js';

/** A cgroup file's text without its trailing newline; undefined when absent or unreadable. */
export function readCgroupFile(dir: string, file: string): string | undefined {
  try {
    return fs.readFileSync(`${dir}/${file}`, 'latin1').trimEnd();
  } catch {
    return undefined;
  }
}

/** A whole number in a cgroup file; undefined when absent, empty, "max" or not a number. */
export function readNumber(dir: string, file: string): number | undefined {
  const text = readCgroupFile(dir, file);
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined;
  return Number(text);
}

/** `cgroup.dir` and each directory above it up to the hierarchy's root, nearest first. */
export function selfAndAncestors(cgroup: CgroupDir): string[] {
  const dirs = [cgroup.dir];
  let dir = cgroup.dir;
  while (relative(cgroup.root, dir) !== '' && !relative(cgroup.root, dir).startsWith('..')) {
    dir = dirname(dir);
    dirs.push(dir);
  }
  return dirs;
}

/**
 * v2 leaves a limit "max" where none is set and keeps some files out of the root: the value
 * comes from the nearest cgroup above that has one (lxcfs walks up the same way).
 */
export function readUpward(cgroup: CgroupDir, file: string): number | undefined {
  const [own, ...above] = selfAndAncestors(cgroup);
  // v1 sets every file in every cgroup: only the cgroup's own counts. Above it, the v2 root's
  // file is not consulted: controllers keep limits out of the root cgroup.
  for (const dir of cgroup.unified ? [own!, ...above.slice(0, -1)] : [own!]) {
    const value = readNumber(dir, file);
    if (value !== undefined) return value;
  }
  return undefined;
}
