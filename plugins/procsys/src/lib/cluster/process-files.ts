import { SysError, type Attr, type DirEntry } from '@kmx/core';
import { SCAN_WINDOW_MS } from './scan-snapshot.js';

/** What `ps` and `top` read of every process: a scan fetches these for all processes at once. */
export const SCANNED_FILES = ['stat', 'status', 'cmdline', 'statm'] as const;

/** An agent answers at most this many paths in one batch. */
export const PATHS_PER_BATCH = 8192;

/**
 * Per-process files whose mode the kernel fixes (fs/proc/base.c: S_IRUGO, environ S_IRUSR)
 * and whose owner is the process directory's (both follow the task's dumpable owner).
 */
const FIXED_MODES: ReadonlyMap<string, number> = new Map([
  ['stat', 0o100444], ['status', 0o100444], ['cmdline', 0o100444], ['statm', 0o100444], ['environ', 0o100400],
]);

const PROCESS_FILE = /^\/(\d+)\/([^/]+)$/;

/**
 * How long the kernel may keep these names and attributes: a process's files are there as
 * long as it is (once it ends, opening one fails), so the next refreshes of `ps` or `top` skip
 * the lookups. The process directory itself keeps the mount's timeout.
 */
export const PROCESS_FILE_VALID_S = SCAN_WINDOW_MS / 1000;

/**
 * The attributes of `/PID/NAME` known without asking the host, from its /proc listing (the
 * process directory's owner and times) and the names every process directory holds:
 * a fixed-mode file's attributes, ENOENT (thrown) for a name no process directory has, or
 * undefined when only the host can tell (other files, or a pid the listing does not show).
 */
export function processFileAttr(path: string, listing: readonly DirEntry[] | undefined, processDirNames: ReadonlySet<string> | undefined): Attr | undefined {
  const match = PROCESS_FILE.exec(path);
  if (!match || !listing) return undefined;
  const dir = listing.find((e) => e.name === match[1])?.attr;
  if (!dir) return undefined;
  const mode = FIXED_MODES.get(match[2]!);
  if (mode !== undefined) return { ...dir, mode, nlink: 1, size: 0, validSeconds: PROCESS_FILE_VALID_S };
  if (processDirNames && !processDirNames.has(match[2]!)) throw SysError.of('ENOENT', 'lookup', path);
  return undefined;
}

/** The scanned files of every process named, in batches an agent accepts. */
export function scanBatches(pids: readonly string[]): string[][] {
  const paths = pids.flatMap((pid) => SCANNED_FILES.map((file) => `/${pid}/${file}`));
  const batches: string[][] = [];
  for (let i = 0; i < paths.length; i += PATHS_PER_BATCH) batches.push(paths.slice(i, i + PATHS_PER_BATCH));
  return batches;
}
