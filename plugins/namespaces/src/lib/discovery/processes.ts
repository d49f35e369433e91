import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { errnoOf } from '@kmx/core';
import { NAMESPACE_TYPES, parseNamespaceLink, type NamespaceType } from '../nsfs/types.js';
import type { Findings } from './findings.js';
import type { ProcessInfo } from './model.js';

// The process routes: /proc/PID/ns (proc), /proc/PID/task/TID/ns for threads that moved
// (task), and /proc/PID/fd links to nsfs files (fd). Links are read, not opened: readlink
// gives type and inode at a fraction of the cost, and each namespace is opened once, later.

const ENOENT = 2;
const ESRCH = 3;

/** Errors that mean "the process (or thread) has gone meanwhile": not worth reporting. */
function vanished(err: unknown): boolean {
  const errno = errnoOf(err);
  return errno === ENOENT || errno === ESRCH;
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch (err) {
    if (vanished(err)) return undefined;
    throw err;
  }
}

/** ppid, comm and the thread count from /proc/PID/stat (comm may hold spaces and parentheses). */
function readStat(base: string): { ppid: number; command: string; threads: number } {
  const text = readFileSync(`${base}/stat`, 'latin1');
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ', 18); // state ppid … num_threads (the 18th after comm)
  return { command: text.slice(open + 1, close), ppid: Number(rest[1]), threads: Number(rest[17]) };
}

/**
 * The types a thread can hold apart from its process (setns and unshare move one thread);
 * user, pid and time are per process (both calls refuse them in a multithreaded process).
 */
const THREAD_TYPES: readonly NamespaceType[] = ['cgroup', 'ipc', 'mnt', 'net', 'uts'];

/** The pids in /proc, ascending. */
export function listPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
}

/** Reads one process (its namespaces, threads and fds) into `findings`; one that has gone is skipped. */
export function scanProcess(findings: Findings, pid: number): void {
  const base = `/proc/${pid}`;
  let info: ProcessInfo;
  let threads: number;
  try {
    const stat = readStat(base);
    threads = stat.threads;
    info = { pid, ppid: stat.ppid, command: stat.command, uid: statSync(base).uid, namespaces: {} };
  } catch (err) {
    if (!vanished(err)) findings.cannot('process', base, err);
    return;
  }
  try {
    for (const type of NAMESPACE_TYPES) {
      const path = `${base}/ns/${type}`;
      const ns = parseNamespaceLink(readLink(path) ?? ''); // a zombie has no namespaces left
      if (!ns) continue;
      info.namespaces[type] = ns.inode;
      findings.found(type, ns.inode, 'proc', path).processes.push(pid);
    }
    for (const type of ['pid', 'time'] as const) forChildren(findings, info, type);
  } catch (err) {
    if (!vanished(err)) findings.cannot('process', `${base}/ns`, err); // EACCES: another user's process
    return;
  }
  findings.processes.set(pid, info);
  if (threads > 1) scanThreads(findings, info);
  if (pid !== process.pid) scanFds(findings, pid); // our own fds are kmx's business
}

/** pid_for_children and time_for_children point to a namespace of their own after unshare. */
function forChildren(findings: Findings, info: ProcessInfo, type: 'pid' | 'time'): void {
  const path = `/proc/${info.pid}/ns/${type}_for_children`;
  const ns = parseNamespaceLink(readLink(path) ?? '');
  if (!ns || ns.inode === info.namespaces[type]) return;
  findings.found(type, ns.inode, 'proc', path).forChildrenOf.push(info.pid);
}

function scanThreads(findings: Findings, info: ProcessInfo): void {
  const base = `/proc/${info.pid}/task`;
  let tids: string[];
  try {
    tids = readdirSync(base);
  } catch (err) {
    if (!vanished(err)) findings.cannot('threads', base, err);
    return;
  }
  for (const tid of tids) {
    if (Number(tid) === info.pid) continue;
    try {
      for (const type of THREAD_TYPES) {
        const path = `${base}/${tid}/ns/${type}`;
        const ns = parseNamespaceLink(readLink(path) ?? '');
        if (!ns || ns.inode === info.namespaces[type]) continue;
        findings.found(type, ns.inode, 'task', path).threads.push({ pid: info.pid, tid: Number(tid) });
      }
    } catch (err) {
      if (!vanished(err)) findings.cannot('threads', `${base}/${tid}/ns`, err);
    }
  }
}

function scanFds(findings: Findings, pid: number): void {
  const base = `/proc/${pid}/fd`;
  let fds: string[];
  try {
    fds = readdirSync(base);
  } catch (err) {
    if (!vanished(err)) findings.cannot('fds', base, err);
    return;
  }
  for (const fd of fds) {
    const path = `${base}/${fd}`;
    let target: string | undefined;
    try {
      target = readLink(path);
    } catch (err) {
      findings.cannot('fds', path, err); // ENAMETOOLONG: a path too long to read; the next fd may still be a namespace
      continue;
    }
    const ns = target === undefined ? undefined : parseNamespaceLink(target);
    if (ns) findings.found(ns.type, ns.inode, 'fd', path).fds.push({ pid, fd: Number(fd) });
  }
}

/** The namespaces of this process, by type. */
export function ownNamespaces(): Partial<Record<NamespaceType, number>> {
  const own: Partial<Record<NamespaceType, number>> = {};
  for (const type of NAMESPACE_TYPES) {
    const ns = parseNamespaceLink(readLink(`/proc/self/ns/${type}`) ?? '');
    if (ns) own[type] = ns.inode;
  }
  return own;
}

/** Marks, in every namespace, the processes whose parent process is not in it. */
export function markTopmost(findings: Findings): void {
  for (const record of findings.namespaces.values()) {
    record.processes.sort((a, b) => a - b);
    record.topmost = record.processes.filter((pid) => {
      const ppid = findings.processes.get(pid)?.ppid ?? 0;
      return findings.processes.get(ppid)?.namespaces[record.type] !== record.inode;
    });
  }
}

/** The command line of a process (NULs as spaces), as lsns shows it; undefined if unreadable. */
export function readCommandLine(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replaceAll('\0', ' ');
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}
