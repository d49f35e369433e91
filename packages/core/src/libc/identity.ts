import { cfn, check } from './library.js';

// The raw system call number: x86-64 has its own table, arm64 the generic one.
const SYS_setgroups = process.arch === 'arm64' ? 159 : 116;

/**
 * Sets the supplementary groups of the calling thread only. glibc's setgroups() would switch
 * every thread of the process (it broadcasts via a signal); the raw system call does not.
 */
export function setThreadGroups(gids: readonly number[]): void {
  const syscall = cfn('long syscall(long number, ...)');
  const list = Uint32Array.from(gids);
  check(syscall(SYS_setgroups, 'size_t', list.length, 'uint32_t *', list), 'setgroups');
}

/** The calling thread's supplementary groups. */
export function threadGroups(): number[] {
  const fn = cfn('int getgroups(int size, _Out_ uint32_t *list)');
  const count = check(fn(0, null), 'getgroups');
  const list = new Uint32Array(count);
  check(fn(count, list), 'getgroups');
  return Array.from(list);
}

/** setfsuid(2)/setfsgid(2): per-thread file-system ids; they return the previous id. */
export function setfsuid(uid: number): number {
  return Number(cfn('int setfsuid(uint32_t uid)')(uid));
}

export function setfsgid(gid: number): number {
  return Number(cfn('int setfsgid(uint32_t gid)')(gid));
}
