import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KmxError, SysError, UsageError } from '@kmx/core';
import { Connection, type ConnectionState } from '../connection/connection.js';
import { IdMap, S_IFDIR, S_IFMT, kmxRecord } from '../filesystem/attrs.js';
import { SftpFileSystem } from '../filesystem/sftp-filesystem.js';
import { KMX_POSIX } from '../protocol/kmx-posix.js';
import type { SftpSession, Stats } from '../protocol/session.js';
import { expandHome, localUserName, readHostConfig } from '../ssh/config.js';
import { AuthenticationFailed, type SshOptions, type SshSecrets } from '../ssh/connect.js';
import { connectSsh } from '../ssh/sftp-over-ssh.js';
import { promptPassword, readPasswordLine } from '../ssh/password.js';
import { formatTarget, parseTarget, type RemoteTarget } from '../ssh/target.js';
import { connectVia, viaCommandLine } from '../via/command.js';
import type { SftpOptions } from './options.js';

/** Everything `kmx sftp mount` decided before connecting. */
export interface MountPlan {
  target: RemoteTarget;
  /** SSH settings, or undefined for --via. */
  ssh: SshOptions | undefined;
  /** The --via command line, {host} substituted. */
  via: string | undefined;
  options: SftpOptions;
}

export interface PlanInput {
  target: string;
  via?: string | undefined;
  identityFiles: readonly string[];
  acceptNewHostKey: boolean;
  options: SftpOptions;
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

function hostKeyPolicy(value: string | undefined): SshOptions['hostKeyPolicy'] {
  switch (value?.toLowerCase()) {
    case undefined:
    case 'yes':
    case 'ask':
      return 'yes';
    case 'accept-new':
      return 'accept-new';
    case 'no':
    case 'off':
      return 'no';
    default:
      throw new UsageError(`StrictHostKeyChecking=${value} is not one of yes, accept-new, no`);
  }
}

/** SSH settings from, in order of precedence: the command line (-i, -o, the target), ~/.ssh/config, ssh's defaults. */
function sshOptions(target: RemoteTarget, input: PlanInput): SshOptions {
  const o = input.options.ssh;
  const config = readHostConfig(target.host);
  const explicit = [...input.identityFiles.map(expandHome), ...(o.identityfile ? [expandHome(o.identityfile)] : []), ...config.identityFiles];
  const identityFiles = explicit.length > 0 ? explicit : DEFAULT_IDENTITIES.map((n) => join(homedir(), '.ssh', n));
  const identitiesOnly = o.identitiesonly ? o.identitiesonly.toLowerCase() === 'yes' : config.identitiesOnly === true;
  const agentSetting = o.identityagent ?? config.identityAgent ?? process.env.SSH_AUTH_SOCK;
  const agent = identitiesOnly || !agentSetting || agentSetting === 'none' ? undefined : agentSetting;
  const knownHostsFiles = o.userknownhostsfile ? o.userknownhostsfile.split(/\s+/).map(expandHome)
    : config.userKnownHostsFiles ?? [join(homedir(), '.ssh', 'known_hosts'), join(homedir(), '.ssh', 'known_hosts2')];
  let policy = hostKeyPolicy(o.stricthostkeychecking ?? config.strictHostKeyChecking);
  if (input.acceptNewHostKey && policy === 'yes') policy = 'accept-new';
  const port = target.port ?? (o.port ? Number(o.port) : undefined) ?? config.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`port ${o.port} is out of range`);
  const seconds = (value: string | undefined, fallback: number | undefined, otherwise: number): number => {
    const n = value !== undefined ? Number(value) : fallback ?? otherwise;
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`"${value}" is not a number of seconds`);
    return n;
  };
  const aliveInterval = seconds(o.serveraliveinterval, config.serverAliveInterval, 5);
  return {
    alias: target.host,
    host: config.hostName ?? target.host,
    port,
    user: target.user ?? o.user ?? config.user ?? localUserName(),
    identityFiles,
    agent,
    knownHostsFiles: [...knownHostsFiles, '/etc/ssh/ssh_known_hosts'],
    knownHostsFile: knownHostsFiles[0] ?? join(homedir(), '.ssh', 'known_hosts'),
    hostKeyPolicy: policy,
    connectTimeoutMs: seconds(o.connecttimeout, config.connectTimeout, 15) * 1000,
    keepaliveIntervalMs: aliveInterval * 1000,
    keepaliveCountMax: seconds(o.serveralivecountmax, config.serverAliveCountMax, 3),
    ciphers: o.ciphers ? o.ciphers.split(',') : config.ciphers,
  };
}

export function planMount(input: PlanInput): MountPlan {
  const target = parseTarget(input.target);
  if (input.via !== undefined) {
    if (!input.via.trim()) throw new UsageError('--via needs a command');
    return { target, ssh: undefined, via: viaCommandLine(input.via, target.host), options: input.options };
  }
  return { target, ssh: sshOptions(target, input), via: undefined, options: input.options };
}

/** The source as mountinfo and `kmx mounts` show it. */
export function sourceOf(plan: MountPlan): string {
  const user = plan.ssh?.user ?? plan.target.user;
  return formatTarget({ user, host: plan.target.host, port: plan.ssh?.port ?? plan.target.port, path: plan.target.path || '.' });
}

/** Opens a new SFTP session the way the plan says. */
function transport(plan: MountPlan, secrets: SshSecrets, log: (line: string) => void): () => Promise<SftpSession> {
  if (plan.via !== undefined) {
    const via = plan.via;
    return () => connectVia(via, log, plan.options.timeout * 1000);
  }
  const ssh = plan.ssh!;
  return () => connectSsh(ssh, secrets, log);
}

/**
 * Opens a session and turns kmx's extension on where the server has it (kmx sftp serve), first
 * thing. A reconnection that lands on a server without it goes on in SFTP v3, and says so.
 */
function opener(plan: MountPlan, secrets: SshSecrets, log: (line: string) => void): () => Promise<SftpSession> {
  const open = transport(plan, secrets, log);
  let hadIt: boolean | undefined;
  return async () => {
    const session = await open();
    let on = false;
    try {
      on = await session.enableKmxPosix();
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      log(`the server announces ${KMX_POSIX} but refused it (${err.message}): going on with SFTP v3`);
    }
    if (hadIt === true && !on) log(`the new connection has no ${KMX_POSIX}: link counts, inode numbers and nanoseconds are gone until the next one`);
    hadIt ??= on;
    return session;
  };
}

/** The remote directory, absolute, and its attributes, after checking it exists and is a directory. */
async function remoteRoot(session: SftpSession, plan: MountPlan): Promise<{ root: string; stats: Stats }> {
  const asked = plan.target.path || '.';
  const where = `${plan.ssh ? plan.ssh.alias : plan.target.host}:${asked}`;
  try {
    const root = await session.realpath(asked);
    const stats = await session.stat(root);
    if (((stats.mode ?? 0) & S_IFMT) !== S_IFDIR) throw new KmxError(`remote path ${where} is not a directory`, { hint: 'mount a directory' });
    return { root, stats };
  } catch (err) {
    if (err instanceof SysError && err.code === 'ENOENT') throw new KmxError(`remote directory ${where} does not exist`, { hint: 'check the path after the colon' });
    if (err instanceof SysError && (err.code === 'EACCES' || err.code === 'EPERM')) throw new KmxError(`no permission to reach remote directory ${where}`);
    throw err;
  }
}

/**
 * Runs where the terminal is (the parent, with --daemon): logs in once over SSH, to check the
 * host key (recording a new one with --accept-new-host-key), to find out whether a password
 * is needed (and ask for it, last), and to check the remote directory, so that every such
 * failure is reported before anything is mounted.
 */
export async function prepareLogin(plan: MountPlan, log: (line: string) => void): Promise<SshSecrets> {
  if (!plan.ssh) return {};
  const ssh = plan.ssh;
  let secrets: SshSecrets = {};
  let session: SftpSession;
  try {
    session = await connectSsh(ssh, secrets, log);
  } catch (err) {
    if (!(err instanceof AuthenticationFailed) || !err.passwordOffered) throw err;
    if (!plan.options.passwordStdin && !process.stdin.isTTY) throw err;
    const password = plan.options.passwordStdin ? await readPasswordLine() : await promptPassword(`${ssh.user}@${ssh.alias}'s password: `);
    secrets = { password };
    session = await connectSsh(ssh, secrets, log);
  }
  try {
    await remoteRoot(session, plan);
  } finally {
    session.close('checked');
  }
  return secrets;
}

/** In the serving process: connects (the first failure is the mount's), and builds the filesystem. */
export async function buildFilesystem(plan: MountPlan, secrets: SshSecrets, readOnly: boolean, log: (line: string) => void, onState: (state: ConnectionState) => void): Promise<SftpFileSystem> {
  const o = plan.options;
  const connection = new Connection({ open: opener(plan, secrets, log), timeoutMs: o.timeout * 1000, reconnect: o.reconnect, backoffMs: { first: 250, max: 8000 }, log, onState });
  const session = await connection.start();
  try {
    const { root, stats } = await remoteRoot(session, plan);
    let remoteIds: { uid: number; gid: number } | undefined;
    if (o.idmap === 'user') {
      const home = await session.stat('.');
      remoteIds = { uid: home.uid ?? 0, gid: home.gid ?? 0 };
    }
    const ids = new IdMap(remoteIds, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }, { uid: o.uid, gid: o.gid });
    // Both ends kmx: the root's device tells the root's filesystem's inode numbers from others'.
    const rootDev = session.kmxPosix ? kmxRecord(stats)?.dev : undefined;
    return new SftpFileSystem(connection, { root, cacheTimeoutMs: o.cacheTimeout * 1000, writeBehindLimit: o.writeBehind, readOnly, followSymlinks: o.followSymlinks, ids, rootDev });
  } catch (err) {
    connection.close();
    throw err;
  }
}

/** True when a key file given with -i exists (ssh only warns; kmx refuses a typo). */
export function checkIdentityFiles(files: readonly string[]): void {
  for (const file of files) {
    if (!existsSync(expandHome(file))) throw new UsageError(`identity file ${file} does not exist`, 'check the path given with -i');
  }
}
