import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KmxError, SysError, UsageError } from '@kmx/core';
import { Connection, type ConnectionState } from '../connection/connection.js';
import { IdMap, S_IFDIR, S_IFMT, kmxRecord } from '../filesystem/attrs.js';
import { SftpFileSystem } from '../filesystem/sftp-filesystem.js';
import { KMX_POSIX } from '../protocol/kmx-posix.js';
import type { SftpSession, Stats } from '../protocol/session.js';
import { expandHome, resolveHost, sshHome } from '../ssh/ssh-config.js';
import { AuthenticationFailed, type SshOptions, type SshSecrets } from '../ssh/connect.js';
import { connectSsh } from '../ssh/sftp-over-ssh.js';
import { promptPassword, readPasswordLine } from '../ssh/password.js';
import { formatTarget, parseTarget, type RemoteTarget } from '../ssh/target.js';
import { connectVia, viaCommandLine } from '../via/command.js';
import { connectDirect } from '../via/direct.js';
import { shellQuote } from '../child/shell.js';
import type { SftpOptions } from './options.js';

/** Everything `kmx sftp mount` decided before connecting. */
export interface MountPlan {
  target: RemoteTarget;
  /** SSH settings, or undefined for --via. */
  ssh: SshOptions | undefined;
  /** The --via command line, {host} substituted (or the ssh_command line). */
  via: string | undefined;
  /** -o directport: SFTP straight over TCP. */
  direct?: { host: string; port: number } | undefined;
  options: SftpOptions;
}

export interface PlanInput {
  target: string;
  via?: string | undefined;
  identityFiles: readonly string[];
  acceptNewHostKey: boolean;
  options: SftpOptions;
}

function hostKeyPolicy(value: string): SshOptions['hostKeyPolicy'] {
  switch (value.toLowerCase()) {
    case 'yes':
    case 'true':
      return 'yes';
    case 'ask':
      return 'ask';
    case 'accept-new':
      return 'accept-new';
    case 'no':
    case 'false':
    case 'off':
      return 'no';
    default:
      throw new UsageError(`StrictHostKeyChecking=${value} is not one of yes, ask, accept-new, no`);
  }
}

/**
 * SSH settings as ssh resolves them (ssh -G): the command line (-F, -p, -i, -C, -o, the
 * target's user and port) over ~/.ssh/config and /etc/ssh/ssh_config, over ssh's defaults;
 * kmx's own defaults only where ssh has none (a connect timeout, keepalives).
 */
async function sshOptions(target: RemoteTarget, input: PlanInput): Promise<SshOptions> {
  const o = input.options;
  const settings = await resolveHost(target.host, {
    configFile: o.sshConfigFile,
    user: target.user,
    port: target.port ?? o.port,
    options: [
      ...input.identityFiles.map((file) => ['IdentityFile', file] as const),
      ...(o.compression ? [['Compression', 'yes'] as const] : []),
      ...o.ssh,
    ],
  });
  const agentSetting = settings.identityAgent === undefined || settings.identityAgent === 'SSH_AUTH_SOCK' ? process.env.SSH_AUTH_SOCK : settings.identityAgent;
  const agent = settings.identitiesOnly || !agentSetting || agentSetting === 'none' ? undefined : agentSetting;
  let policy = hostKeyPolicy(settings.strictHostKeyChecking);
  if (input.acceptNewHostKey && (policy === 'yes' || policy === 'ask')) policy = 'accept-new';
  return {
    alias: target.host,
    host: settings.hostName,
    port: settings.port,
    user: settings.user,
    identityFiles: settings.identityFiles,
    agent,
    knownHostsFiles: [...settings.userKnownHostsFiles, ...settings.globalKnownHostsFiles],
    knownHostsFile: settings.userKnownHostsFiles[0] ?? join(sshHome(), '.ssh', 'known_hosts'),
    hostKeyPolicy: policy,
    batchMode: settings.batchMode,
    passwordAuthentication: settings.passwordAuthentication,
    connectTimeoutMs: (settings.connectTimeout ?? 15) * 1000,
    keepaliveIntervalMs: (settings.serverAliveInterval ?? 5) * 1000,
    keepaliveCountMax: settings.serverAliveCountMax,
    ciphers: settings.ciphers,
    macs: settings.macs,
    kexAlgorithms: settings.kexAlgorithms,
    hostKeyAlgorithms: settings.hostKeyAlgorithms,
    compression: settings.compression,
    proxyCommand: settings.proxyCommand,
    proxyJump: settings.proxyJump,
    configFile: o.sshConfigFile === undefined ? undefined : expandHome(o.sshConfigFile),
    sftpServer: o.sftpServer,
  };
}

/**
 * sshfs's -o ssh_command: that program is ssh, run as sshfs runs it, and SFTP is spoken over
 * its stdin and stdout. It asks its own questions (host keys, passwords) and reads its own
 * configuration; kmx passes on -F, -p, -C, -i and the ssh -o options.
 */
function sshCommandLine(target: RemoteTarget, input: PlanInput): string {
  const o = input.options;
  const args = [
    '-x', '-a', '-oClearAllForwardings=yes',
    ...(o.sshConfigFile ? ['-F', expandHome(o.sshConfigFile)] : []),
    ...(target.port ?? o.port ? ['-p', String(target.port ?? o.port)] : []),
    ...(o.compression ? ['-C'] : []),
    ...input.identityFiles.flatMap((file) => ['-i', expandHome(file)]),
    ...o.ssh.map(([name, value]) => `-o${name}=${value}`),
    ...(target.user ? ['-l', target.user] : []),
  ];
  const server = o.sftpServer ?? 'sftp';
  const remote = server.includes('/') ? ['--', target.host, server] : ['-s', '--', target.host, server];
  return [o.sshCommand!, ...[...args, ...remote].map(shellQuote)].join(' ');
}

export async function planMount(input: PlanInput): Promise<MountPlan> {
  const target = parseTarget(input.target);
  const o = input.options;
  const transports = [input.via !== undefined ? '--via' : '', o.sshCommand !== undefined ? '-o ssh_command' : '', o.directPort !== undefined ? '-o directport' : ''].filter(Boolean);
  if (transports.length > 1) throw new UsageError(`${transports.join(' and ')} cannot be used together: each is a way to reach the server`);
  if (input.via !== undefined) {
    if (!input.via.trim()) throw new UsageError('--via needs a command');
    return { target, ssh: undefined, via: viaCommandLine(input.via, target.host), options: o };
  }
  if (o.sshCommand !== undefined) return { target, ssh: undefined, via: sshCommandLine(target, input), options: o };
  if (o.directPort !== undefined) return { target, ssh: undefined, via: undefined, direct: { host: target.host, port: o.directPort }, options: o };
  return { target, ssh: await sshOptions(target, input), via: undefined, options: o };
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
  if (plan.direct !== undefined) {
    const { host, port } = plan.direct;
    return () => connectDirect(host, port, plan.options.timeout * 1000);
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
    if (!plan.options.passwordStdin && (!process.stdin.isTTY || ssh.batchMode || !ssh.passwordAuthentication)) throw err;
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
