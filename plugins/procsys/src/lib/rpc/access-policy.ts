import { SysError } from '@kmx/core';

/**
 * What an agent shows a remote client is what an unprivileged user of its host reads: every
 * read, listing, stat and readlink is carried out by the agent's reader process as that user
 * (reader.ts, reader-child.ts), so the kernel's own checks decide, file by file. Writes go
 * only to the /proc/sys keys the agent's owner listed (writable-keys.ts).
 */

/**
 * Per-process files the kernel shows only with ptrace access (DAC 0400/0500, or a ptrace
 * check when opened): an agent's reader never has it for another user's process, and refuses
 * them for its own user's. Clients skip the round trip for them.
 */
const PTRACE_GUARDED = new Set(['maps', 'smaps', 'smaps_rollup', 'numa_maps', 'stack', 'syscall', 'pagemap', 'mem', 'environ', 'auxv', 'io', 'map_files', 'fd', 'fdinfo', 'ns', 'root', 'cwd', 'exe']);
/** A process directory of the agent's host. */
const PROCESS_DIR = /^\d+$/;

/** Whether reading a view path ('/1/environ') can give anything but EACCES; clients skip the round trip when not. */
export function remotelyReadable(path: string): boolean {
  const parts = path.split('/');
  return !PROCESS_DIR.test(parts[1] ?? '') || !parts.slice(2).some((p) => PTRACE_GUARDED.has(p));
}

/** Splits and checks an agent path ('1/stat'; '' is /proc itself). */
export function agentPath(path: string): string[] {
  if (path === '') return [];
  const parts = path.split('/');
  if (path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) throw SysError.of('EINVAL', 'path', path, { detail: 'not a path inside /proc' });
  return parts;
}
