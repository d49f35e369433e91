import { cfn, check } from './library.js';

/** ioctl(fd, request) with no argument; returns the result (a new fd for NS_GET_PARENT/USERNS). */
export function ioctl(fd: number, request: number, what = 'ioctl'): number {
  return check(cfn('int ioctl(int fd, unsigned long request)')(fd, request), what);
}

/** ioctl(fd, request, value): an integer passed by value (NS_GET_PID_*_PIDNS). */
export function ioctlValue(fd: number, request: number, value: number, what = 'ioctl'): number {
  return check(cfn('int ioctl(int fd, unsigned long request, long value)')(fd, request, value), what);
}

/** ioctl(fd, request, &u32): a 32-bit result written through the pointer (NS_GET_OWNER_UID). */
export function ioctlOutU32(fd: number, request: number, what = 'ioctl'): number {
  const out = new Uint32Array(1);
  check(cfn('int ioctl(int fd, unsigned long request, _Out_ uint32_t *out)')(fd, request, out), what);
  return out[0] ?? 0;
}

/** ioctl(fd, request, &u64): a 64-bit result (NS_GET_ID, NS_GET_MNTNS_ID), kept as a bigint. */
export function ioctlOutU64(fd: number, request: number, what = 'ioctl'): bigint {
  const out = new BigUint64Array(1);
  check(cfn('int ioctl(int fd, unsigned long request, _Out_ uint64_t *out)')(fd, request, out), what);
  return out[0] ?? 0n;
}

/**
 * setns(2). Only for single-threaded processes: in Node it moves the calling thread alone
 * (or fails with EINVAL), so kmx uses the mount helper process instead.
 */
export function setns(fd: number, nstype: number): void {
  check(cfn('int setns(int fd, int nstype)')(fd, nstype), 'setns');
}

/** unshare(2). Same warning as setns: Node is multithreaded (CLONE_NEWUSER fails with EINVAL). */
export function unshare(flags: number): void {
  check(cfn('int unshare(int flags)')(flags), 'unshare');
}

/** pidfd_open(2): a stable handle on a process, immune to pid reuse. */
export function pidfdOpen(pid: number, flags = 0): number {
  return check(cfn('int pidfd_open(int pid, unsigned int flags)')(pid, flags), 'pidfd_open', String(pid));
}

const SYS_pidfd_send_signal = 424;

/**
 * pidfd_send_signal(2) with signal 0: whether the process a pidfd stands for still lives
 * (ESRCH once it has exited), which proves a pid read meanwhile was not reused.
 */
export function pidfdAlive(pidfd: number): boolean {
  const syscall = cfn('long syscall(long number, ...)');
  return Number(syscall(SYS_pidfd_send_signal, 'int', pidfd, 'int', 0, 'void *', null, 'unsigned int', 0)) === 0;
}
