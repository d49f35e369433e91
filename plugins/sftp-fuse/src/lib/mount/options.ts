import { UsageError } from '@kmx/core';

/** kmx sftp's own -o options (sshfs's names where sshfs has one), beside the FUSE ones core knows. */
export interface SftpOptions {
  reconnect: boolean;
  idmap: 'none' | 'user';
  uid?: number;
  gid?: number;
  /** Seconds attributes and listings stay cached (sshfs cache_timeout; 0 with cache=no). */
  cacheTimeout: number;
  followSymlinks: boolean;
  /** Bytes per open file that may be written ahead of the server's answers (0: every write waits). */
  writeBehind: number;
  /** Seconds an unanswered request or an unreachable server may take before EIO. */
  timeout: number;
  passwordStdin: boolean;
  /** ssh options (ssh_config names, lower case) given with -o Name=value, as sshfs passes them to ssh. */
  ssh: Record<string, string>;
}

export const SFTP_OPTION_NAMES = [
  'reconnect', 'idmap=user|none', 'uid=N', 'gid=N', 'cache=yes|no', 'cache_timeout=S', 'dir_cache=yes|no', 'follow_symlinks',
  'write_behind=BYTES', 'timeout=S', 'password_stdin', 'IdentityFile=F', 'Port=N', 'User=U', 'UserKnownHostsFile=F',
  'StrictHostKeyChecking=yes|accept-new|no', 'IdentitiesOnly=yes|no', 'ConnectTimeout=S', 'ServerAliveInterval=S', 'ServerAliveCountMax=N', 'Ciphers=LIST',
] as const;

const SSH_OPTIONS = new Set(['identityfile', 'port', 'user', 'userknownhostsfile', 'stricthostkeychecking', 'identitiesonly', 'connecttimeout', 'serveraliveinterval', 'serveralivecountmax', 'ciphers', 'identityagent']);

/**
 * 8 MiB written ahead per file, of which the mount sends at most 2 MiB unanswered (SendGate,
 * sshd's window): the writer rarely waits, and sshd is never asked to buffer more than its
 * window. Sustained 256 MiB writes over loopback, median of six: 305 MiB/s vs 280 with a plain
 * 1 MiB write-behind (sshfs 250); a fresh mount's first write 170 vs 169 (sshfs 147). Without
 * the gate, 8 MiB sped sustained writes up but slowed a first one to 0.76× sshfs.
 */
const WRITE_BEHIND_BYTES = 8 * 1024 * 1024;

export function defaultSftpOptions(): SftpOptions {
  return { reconnect: true, idmap: 'none', cacheTimeout: 20, followSymlinks: false, writeBehind: WRITE_BEHIND_BYTES, timeout: 15, passwordStdin: false, ssh: {} };
}

function number(name: string, value: string | undefined, integer: boolean): number {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value) || (integer && !/^\d+$/.test(value))) {
    throw new UsageError(`mount option "${name}" needs a ${integer ? 'whole ' : ''}number, as in ${name}=${integer ? '1000' : '2.5'}`);
  }
  return Number(value);
}

function yesNo(name: string, value: string | undefined): boolean {
  if (value === undefined || value === 'yes') return true;
  if (value === 'no') return false;
  throw new UsageError(`mount option "${name}" takes yes or no`);
}

/**
 * Takes one -o item that core's FUSE options do not know; false when it is not ours either
 * (then the caller reports it as unknown).
 */
export function takeSftpOption(options: SftpOptions, name: string, value: string | undefined): boolean {
  const lower = name.toLowerCase();
  if (SSH_OPTIONS.has(lower)) {
    if (value === undefined || value === '') throw new UsageError(`mount option "${name}" needs a value`);
    options.ssh[lower] = value;
    return true;
  }
  switch (name) {
    case 'reconnect': options.reconnect = yesNo(name, value); return true;
    case 'idmap':
      if (value !== 'user' && value !== 'none') throw new UsageError('mount option "idmap" takes user or none');
      options.idmap = value;
      return true;
    case 'uid': options.uid = number(name, value, true); return true;
    case 'gid': options.gid = number(name, value, true); return true;
    case 'cache': if (!yesNo(name, value)) options.cacheTimeout = 0; return true;
    case 'dir_cache': if (!yesNo(name, value)) options.cacheTimeout = 0; return true;
    case 'cache_timeout':
    case 'dcache_timeout': options.cacheTimeout = number(name, value, false); return true;
    case 'follow_symlinks': options.followSymlinks = yesNo(name, value); return true;
    case 'write_behind': options.writeBehind = number(name, value, true); return true;
    case 'timeout':
      options.timeout = number(name, value, false);
      if (options.timeout < 1) throw new UsageError('mount option "timeout" must be at least 1 second');
      return true;
    case 'password_stdin': options.passwordStdin = yesNo(name, value); return true;
    default: return false;
  }
}
