import * as fs from 'node:fs';
import { SysError } from '@kmx/core';

/**
 * What an agent shows a remote client: what any unprivileged user of its host could read.
 * A world-readable mode is the first test; files the kernel guards further by ptrace access
 * (a process's memory map, its kernel stack) are refused outright, since the agent itself
 * usually runs as root and would pass that check. Writes go only below sys/, and only on an
 * agent started with --writable.
 */

const PTRACE_GUARDED = new Set(['maps', 'smaps', 'smaps_rollup', 'numa_maps', 'wchan', 'stack', 'syscall', 'pagemap', 'mem', 'environ', 'auxv', 'personality', 'io', 'map_files', 'fd', 'fdinfo', 'ns', 'root', 'cwd', 'exe']);
/** World-readable, but printing kernel addresses to privileged readers (kptr_restrict), as the agent often is. */
const KERNEL_ADDRESSES = new Set(['kallsyms', 'modules']);
/** A process directory: a pid, or the agent's own through self and thread-self. */
const PROCESS_DIR = /^(\d+|self|thread-self)$/;
const OTHER_READ = 0o004;
const OTHER_WRITE = 0o002;
const OTHER_SEARCH = 0o001;

/** Whether a view path ('/1/environ') may be served at all; clients skip the round trip when not. */
export function remotelyReadable(path: string): boolean {
  const parts = path.split('/');
  if (parts.length === 2 && KERNEL_ADDRESSES.has(parts[1]!)) return false;
  return !PROCESS_DIR.test(parts[1] ?? '') || !parts.slice(2).some((p) => PTRACE_GUARDED.has(p));
}

/** Splits and checks an agent path ('1/stat'; '' is /proc itself). */
export function agentPath(path: string): string[] {
  if (path === '') return [];
  const parts = path.split('/');
  if (path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) throw SysError.of('EINVAL', 'path', path, { detail: 'not a path inside /proc' });
  return parts;
}

export class AccessPolicy {
  constructor(private readonly root: string, private readonly writable: boolean) {}

  real(parts: readonly string[]): string {
    return parts.length === 0 ? this.root : `${this.root}/${parts.join('/')}`;
  }

  /**
   * Every directory on the way must be searchable by others, no name ptrace-guarded, and the
   * path must stay inside /proc once links are followed (a process's root or cwd would lead
   * anywhere on the host).
   */
  private reach(parts: readonly string[], what: string): void {
    const processDir = PROCESS_DIR.test(parts[0] ?? '');
    if (parts.length === 1 && KERNEL_ADDRESSES.has(parts[0]!)) throw SysError.of('EACCES', what, parts[0], { detail: 'not served to remote clients' });
    for (let i = 0; i < parts.length; i++) {
      if (processDir && i > 0 && PTRACE_GUARDED.has(parts[i]!)) throw SysError.of('EACCES', what, parts.join('/'), { detail: 'not served to remote clients' });
      if (i === parts.length - 1) break;
      const st = fs.statSync(this.real(parts.slice(0, i + 1)));
      if (!(st.mode & OTHER_SEARCH)) throw SysError.of('EACCES', what, parts.join('/'));
    }
    const target = fs.realpathSync(this.real(parts));
    if (target !== this.root && !target.startsWith(`${this.root}/`)) throw SysError.of('EACCES', what, parts.join('/'), { detail: 'leads outside /proc' });
  }

  forStat(parts: readonly string[]): void {
    this.reach(parts, 'stat');
  }

  forList(parts: readonly string[]): void {
    this.reach(parts, 'opendir');
    if (!(fs.statSync(this.real(parts)).mode & OTHER_READ)) throw SysError.of('EACCES', 'opendir', parts.join('/'));
  }

  forReadlink(parts: readonly string[]): void {
    this.reach(parts, 'readlink');
    // A process's exe/cwd/root need ptrace access on the host itself.
    const last = parts[parts.length - 1];
    if (parts.length > 1 && (last === 'exe' || last === 'cwd' || last === 'root')) throw SysError.of('EACCES', 'readlink', parts.join('/'));
  }

  forRead(parts: readonly string[]): void {
    this.reach(parts, 'open');
    const st = fs.statSync(this.real(parts));
    if (!st.isFile()) throw SysError.of(st.isDirectory() ? 'EISDIR' : 'EACCES', 'open', parts.join('/'));
    if (!(st.mode & OTHER_READ)) throw SysError.of('EACCES', 'open', parts.join('/'));
  }

  forWrite(parts: readonly string[]): void {
    if (!this.writable) throw SysError.of('EROFS', 'open', parts.join('/'), { detail: 'the agent was started without --writable' });
    if (parts[0] !== 'sys') throw SysError.of('EACCES', 'open', parts.join('/'), { detail: 'only sys/ is writable remotely' });
    this.reach(parts, 'open');
    const st = fs.statSync(this.real(parts));
    if (!st.isFile() || !(st.mode & (0o200 | OTHER_WRITE))) throw SysError.of('EACCES', 'open', parts.join('/'));
  }
}
