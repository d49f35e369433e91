import { FUSE_OPTION_NAMES, UsageError } from '@kmx/core';

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
  /** ssh_config options given with -o Name=value, in order, as sshfs passes them to ssh. */
  ssh: Array<readonly [string, string]>;
  /** -p PORT (sshfs's, ssh's). */
  port?: number;
  /** -C: compression, as ssh -C. */
  compression: boolean;
  /** -F FILE: ssh's configuration file instead of ~/.ssh/config and /etc/ssh/ssh_config. */
  sshConfigFile?: string;
  /** sshfs's ssh_command: run this program as ssh (OpenSSH's own client, a wrapper) instead of kmx's SSH. */
  sshCommand?: string;
  /** sshfs's sftp_server: a subsystem name, or a path run on the server instead of the "sftp" subsystem. */
  sftpServer?: string;
  /** sshfs's directport: SFTP straight over TCP to this port, no SSH. */
  directPort?: number;
}

export const SFTP_OPTION_NAMES = [
  'reconnect', 'idmap=user|none', 'uid=N', 'gid=N', 'cache=yes|no', 'cache_timeout=S', 'dir_cache=yes|no', 'follow_symlinks',
  'write_behind=BYTES', 'timeout=S', 'password_stdin', 'ssh_command=CMD', 'sftp_server=NAME|PATH', 'directport=PORT', 'nonempty',
] as const;

/** The ssh_config options kmx honours with -o Name=value (any case), resolved by ssh itself. */
export const SSH_OPTION_NAMES = [
  'HostName', 'Port', 'User', 'IdentityFile', 'IdentitiesOnly', 'IdentityAgent', 'UserKnownHostsFile', 'GlobalKnownHostsFile',
  'StrictHostKeyChecking', 'BatchMode', 'PasswordAuthentication', 'ConnectTimeout', 'ServerAliveInterval', 'ServerAliveCountMax',
  'Compression', 'Ciphers', 'MACs', 'KexAlgorithms', 'HostKeyAlgorithms', 'ProxyCommand', 'ProxyJump',
] as const;

const SSH_OPTIONS = new Map(SSH_OPTION_NAMES.map((n) => [n.toLowerCase(), n]));

/**
 * 8 MiB written ahead per file, of which the mount sends at most 2 MiB unanswered (SendGate,
 * sshd's window): the writer rarely waits, and sshd is never asked to buffer more than its
 * window. Sustained 256 MiB writes over loopback, median of six: 305 MiB/s vs 280 with a plain
 * 1 MiB write-behind (sshfs 250); a fresh mount's first write 170 vs 169 (sshfs 147). Without
 * the gate, 8 MiB sped sustained writes up but slowed a first one to 0.76× sshfs.
 */
const WRITE_BEHIND_BYTES = 8 * 1024 * 1024;

export function defaultSftpOptions(): SftpOptions {
  return { reconnect: true, idmap: 'none', cacheTimeout: 20, followSymlinks: false, writeBehind: WRITE_BEHIND_BYTES, timeout: 15, passwordStdin: false, ssh: [], compression: false };
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

function port(name: string, value: string | undefined): number {
  const n = number(name, value, true);
  if (n < 1 || n > 65535) throw new UsageError(`mount option "${name}": port ${n} is out of range (1-65535)`);
  return n;
}

/**
 * Takes one -o item that core's FUSE options do not know. An unknown one is refused here,
 * naming every option kmx sftp mount accepts (FUSE, kmx sftp's and ssh's).
 */
export function takeSftpOption(options: SftpOptions, name: string, value: string | undefined): boolean {
  const sshName = SSH_OPTIONS.get(name.toLowerCase());
  if (sshName !== undefined) {
    if (value === undefined || value === '') throw new UsageError(`mount option "${name}" needs a value, as in -o ${sshName}=…`);
    options.ssh.push([sshName, value]);
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
    // fuse3 mounts on a non-empty directory anyway; sshfs users still type it.
    case 'nonempty': return true;
    case 'ssh_command':
      if (!value?.trim()) throw new UsageError('mount option "ssh_command" needs a command, as in ssh_command=ssh');
      options.sshCommand = value;
      return true;
    case 'sftp_server':
      if (!value?.trim()) throw new UsageError('mount option "sftp_server" needs a subsystem name or a path on the server');
      options.sftpServer = value;
      return true;
    case 'directport': options.directPort = port(name, value); return true;
    case 'passive':
      throw new UsageError('mount option "passive" (SFTP over kmx\'s own stdin and stdout) is not supported', 'use --via CMD: kmx runs CMD and speaks SFTP over its stdin and stdout');
    default:
      throw new UsageError(`unknown mount option "${name}"`, `kmx sftp mount takes ${SFTP_OPTION_NAMES.join(', ')}; the ssh options ${SSH_OPTION_NAMES.join(', ')} (as Name=value); and the FUSE options ${FUSE_OPTION_NAMES.join(', ')}`);
  }
}
