import { UsageError } from '../errors/index.js';

/** Mount options common to both engines. Timeouts are in seconds; 0 is a valid timeout. */
export interface FuseOptions {
  allowOther?: boolean;
  defaultPermissions?: boolean;
  readOnly?: boolean;
  /** Every file bypasses the page cache (files whose size is unknown, like /proc's). */
  directIo?: boolean;
  /** Keep cached file pages across opens (the data does not change behind kmx's back). */
  kernelCache?: boolean;
  attrTimeout?: number;
  entryTimeout?: number;
  negativeTimeout?: number;
  maxRead?: number;
  maxWrite?: number;
  maxBackground?: number;
  congestionThreshold?: number;
  /** The filesystem's inode numbers are stable and unique: report them as st_ino. */
  useIno?: boolean;
  /**
   * Let the kernel cache writes and send them later in large batches (libfuse3 only). Safe
   * only when this mount is the sole writer of its data: the kernel trusts its own cached size
   * and mtime, so a change behind kmx's back is not seen. Writes then reach the filesystem from
   * the kernel's flusher, not from the writer, so they carry no useful caller, and files opened
   * write-only are opened read-write (the kernel reads partial pages) without O_APPEND (the
   * kernel positions appends).
   */
  writebackCache?: boolean;
  /** A fusermount watchdog removes the mount if the serving process dies. */
  autoUnmount?: boolean;
  debug?: boolean;
  /** The kernel's generic mount flags asked for (noexec, noatime, sync, …), passed to the mount as they are. */
  mountFlags?: string[];
}

/**
 * The kernel's generic mount flags, as mount(8) and fstab spell them, which libfuse passes to
 * mount(2). nosuid and nodev are always set (FUSE mounts get them); suid and dev are refused.
 */
const MOUNT_FLAGS = new Set(['rw', 'exec', 'noexec', 'nosuid', 'nodev', 'atime', 'noatime', 'nodiratime', 'relatime', 'strictatime', 'sync', 'async', 'dirsync']);
const ALWAYS = new Set(['rw', 'nosuid', 'nodev']);

type Kind = 'flag' | 'seconds' | 'bytes' | 'count';
const OPTIONS: Record<string, { key: keyof FuseOptions; kind: Kind }> = {
  allow_other: { key: 'allowOther', kind: 'flag' },
  default_permissions: { key: 'defaultPermissions', kind: 'flag' },
  ro: { key: 'readOnly', kind: 'flag' },
  direct_io: { key: 'directIo', kind: 'flag' },
  kernel_cache: { key: 'kernelCache', kind: 'flag' },
  attr_timeout: { key: 'attrTimeout', kind: 'seconds' },
  entry_timeout: { key: 'entryTimeout', kind: 'seconds' },
  negative_timeout: { key: 'negativeTimeout', kind: 'seconds' },
  max_read: { key: 'maxRead', kind: 'bytes' },
  max_write: { key: 'maxWrite', kind: 'bytes' },
  max_background: { key: 'maxBackground', kind: 'count' },
  congestion_threshold: { key: 'congestionThreshold', kind: 'count' },
  use_ino: { key: 'useIno', kind: 'flag' },
  writeback_cache: { key: 'writebackCache', kind: 'flag' },
  auto_unmount: { key: 'autoUnmount', kind: 'flag' },
  debug: { key: 'debug', kind: 'flag' },
};

/** The `-o` option names every mount command accepts, for help texts. */
export const FUSE_OPTION_NAMES: readonly string[] = Object.keys(OPTIONS);

const MAX_BYTES = 16 * 1024 * 1024;

/**
 * The items of one `-o` string: split at commas, where `\,` is a comma inside a value and
 * `\\` a backslash, as libfuse's option parser reads them (`-o Ciphers=a\,b`).
 */
export function splitOptionList(spec: string): string[] {
  const items: string[] = [];
  let item = '';
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === '\\' && i + 1 < spec.length) item += spec[++i];
    else if (c === ',') {
      items.push(item);
      item = '';
    } else item += c;
  }
  items.push(item);
  return items;
}

/**
 * Parses sshfs-style `-o a,b=1` strings into FuseOptions. Only known options pass, so an
 * option libfuse would reject never reaches it (a rejected option after the kernel mount
 * is what used to leave stale mounts). `extra` receives options a plugin understands itself.
 */
export function parseFuseOptions(specs: readonly string[], extra?: (name: string, value: string | undefined) => boolean): FuseOptions {
  const options: FuseOptions = {};
  for (const spec of specs) {
    for (const item of splitOptionList(spec)) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      const name = eq < 0 ? item : item.slice(0, eq);
      const value = eq < 0 ? undefined : item.slice(eq + 1);
      if (value === undefined && MOUNT_FLAGS.has(name)) {
        if (!ALWAYS.has(name) && !options.mountFlags?.includes(name)) (options.mountFlags ??= []).push(name);
        continue;
      }
      if ((name === 'suid' || name === 'dev') && value === undefined) {
        throw new UsageError(`mount option "${name}" is not allowed`, 'kmx mounts are always nosuid,nodev');
      }
      const known = OPTIONS[name];
      if (!known) {
        if (extra?.(name, value)) continue;
        throw new UsageError(`unknown mount option "${name}"`, `known options: ${FUSE_OPTION_NAMES.join(', ')}, and the mount flags ${[...MOUNT_FLAGS].join(', ')}`);
      }
      (options as Record<string, unknown>)[known.key] = parseValue(name, known.kind, value);
    }
  }
  return options;
}

function parseValue(name: string, kind: Kind, value: string | undefined): boolean | number {
  if (kind === 'flag') {
    if (value !== undefined) throw new UsageError(`mount option "${name}" takes no value`);
    return true;
  }
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value)) {
    throw new UsageError(`mount option "${name}" needs a number, as in ${name}=${kind === 'seconds' ? '1.5' : '65536'}`);
  }
  const number = Number(value);
  if (kind !== 'seconds' && (!Number.isInteger(number) || number < 1 || number > MAX_BYTES)) {
    throw new UsageError(`mount option "${name}" must be a whole number from 1 to ${MAX_BYTES}`);
  }
  return number;
}

/**
 * Characters that would break a libfuse option string (it is comma-separated) or forge a
 * line of /proc/self/mountinfo. Names shown in mountinfo (fsname, subtype) are cleaned of them.
 */
export function mountinfoSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[,\\\x00-\x1f\x7f]/g, '_');
}
