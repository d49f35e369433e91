import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { KmxError, UsageError } from '@kmx/core';

/**
 * What applies to one host, as OpenSSH itself resolves it (`ssh -G`): ~/.ssh/config and
 * /etc/ssh/ssh_config with its ssh_config.d, Include, Match, wildcards, `+`/`-`/`^` algorithm
 * lists, and the -o options given to kmx. kmx reads only the answer, so it never parses
 * ssh_config differently from ssh.
 */
export interface HostSettings {
  /** The name kmx was given (a Host alias, or the host itself). */
  alias: string;
  hostName: string;
  user: string;
  port: number;
  /** ~ and %-tokens expanded; files that do not exist are kept (ssh skips them too). */
  identityFiles: string[];
  identitiesOnly: boolean;
  /** An agent socket path, 'SSH_AUTH_SOCK', 'none', or undefined when unset. */
  identityAgent: string | undefined;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  strictHostKeyChecking: string;
  batchMode: boolean;
  compression: boolean;
  passwordAuthentication: boolean;
  /** Seconds; undefined where ssh's default stands (kmx then picks its own). */
  connectTimeout: number | undefined;
  serverAliveInterval: number | undefined;
  serverAliveCountMax: number;
  /** Algorithm lists, only where the configuration changed ssh's default. */
  ciphers: string[] | undefined;
  macs: string[] | undefined;
  kexAlgorithms: string[] | undefined;
  hostKeyAlgorithms: string[] | undefined;
  /** %-tokens not yet expanded (see expandProxyTokens). */
  proxyCommand: string | undefined;
  proxyJump: string | undefined;
}

/** What the command line adds to the configuration, as ssh's own -F, -l, -p and -o would. */
export interface SshCommandLine {
  configFile?: string | undefined;
  user?: string | undefined;
  port?: number | undefined;
  /** -o Name=value, in the order given (ssh takes the first of each). */
  options: ReadonlyArray<readonly [string, string]>;
}

type Resolved = Map<string, string[]>;

/** The home ssh's files are in: $HOME, as for every other kmx file. */
export function sshHome(): string {
  return homedir();
}

export function expandHome(path: string): string {
  return path === '~' ? sshHome() : path.startsWith('~/') ? join(sshHome(), path.slice(2)) : path;
}

/** The local login name, as ssh takes it for the remote one when none is given. */
export function localUserName(): string {
  try {
    return userInfo().username;
  } catch {
    throw new UsageError(`uid ${process.getuid?.() ?? '?'} has no user name (no passwd entry); give one: user@host`);
  }
}

function passwdHome(): string | undefined {
  try {
    return userInfo().homedir;
  } catch {
    return undefined;
  }
}

/**
 * ssh reads ~/.ssh/config from the passwd entry's home, not $HOME. Where $HOME was changed
 * (a test, a container, sudo -H), kmx hands ssh the same two files, $HOME's first, and the
 * known_hosts files under $HOME as the default: what ssh would read if that were the home.
 */
function homeConfig(): string | undefined {
  const home = sshHome();
  if (home === passwdHome()) return undefined;
  const user = join(home, '.ssh', 'config');
  const lines = [
    ...(existsSync(user) ? [`Include "${user}"`] : []),
    'Include /etc/ssh/ssh_config',
    'Host *',
    `  UserKnownHostsFile "${join(home, '.ssh', 'known_hosts')}" "${join(home, '.ssh', 'known_hosts2')}"`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Runs `body` with ssh's -F arguments; a generated configuration lives in a private temporary file meanwhile. */
async function withConfigArgs<T>(commandLine: SshCommandLine, body: (args: string[]) => Promise<T>): Promise<T> {
  if (commandLine.configFile !== undefined) return body(['-F', expandHome(commandLine.configFile)]);
  const generated = homeConfig();
  if (generated === undefined) return body([]);
  const dir = await mkdtemp(join(tmpdir(), 'kmx-ssh-config-'));
  try {
    await writeFile(join(dir, 'config'), generated, { mode: 0o600 });
    return await body(['-F', join(dir, 'config')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runSshG(args: readonly string[]): Promise<Resolved> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', ['-G', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new KmxError(`cannot run ssh to read ssh's configuration (${e.message})`, { hint: 'install openssh-client' })));
    child.on('close', (code) => {
      if (code !== 0) {
        const why = err.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('Pseudo-terminal')).at(-1) ?? `exit code ${code}`;
        return reject(new UsageError(`ssh's configuration: ${why.replace(/^command-line:? line 0: /, 'in -o: ').replace(/\.$/, '')}`, 'check -o, -F and ~/.ssh/config'));
      }
      const resolved: Resolved = new Map();
      for (const line of out.split('\n')) {
        const space = line.indexOf(' ');
        if (space <= 0) continue;
        const key = line.slice(0, space);
        resolved.set(key, [...(resolved.get(key) ?? []), line.slice(space + 1)]);
      }
      resolve(resolved);
    });
  });
}

/** %-tokens of IdentityFile and similar, as ssh_config(5) TOKENS lists them. */
export function expandTokens(value: string, s: { alias: string; hostName: string; port: number; user: string }): string {
  return expandHome(value).replace(/%([%dhilLnpru])/g, (_, t: string) => {
    switch (t) {
      case 'd': return sshHome();
      case 'h': return s.hostName;
      case 'i': return String(process.getuid?.() ?? 0);
      case 'l': return hostname();
      case 'L': return hostname().split('.')[0] ?? '';
      case 'n': return s.alias;
      case 'p': return String(s.port);
      case 'r': return s.user;
      case 'u': return localUserName();
      default: return '%';
    }
  });
}

const first = (r: Resolved, key: string): string | undefined => r.get(key)?.[0];
const seconds = (value: string | undefined): number | undefined => (value === undefined || value === 'none' || !/^\d+$/.test(value) ? undefined : Number(value));
const list = (value: string | undefined): string[] | undefined => value?.split(',').filter(Boolean);

/** Resolves `alias` with ssh -G, beside ssh's defaults (-F none) to tell configured algorithms from default ones. */
export async function resolveHost(alias: string, commandLine: SshCommandLine): Promise<HostSettings> {
  const extra = [
    ...(commandLine.user ? ['-l', commandLine.user] : []),
    ...(commandLine.port ? ['-p', String(commandLine.port)] : []),
    ...commandLine.options.flatMap(([name, value]) => ['-o', `${name}=${value}`]),
  ];
  const [r, defaults] = await Promise.all([
    withConfigArgs(commandLine, (args) => runSshG([...args, ...extra, '--', alias])),
    runSshG(['-F', 'none', '--', alias]),
  ]);
  const changed = (key: string): string[] | undefined => (first(r, key) !== first(defaults, key) ? list(first(r, key)) : undefined);
  const hostName = first(r, 'hostname') ?? alias;
  const port = Number(first(r, 'port') ?? 22);
  const user = first(r, 'user') ?? localUserName();
  const tokens = { alias, hostName, port, user };
  const agent = first(r, 'identityagent');
  const proxyCommand = first(r, 'proxycommand');
  const proxyJump = first(r, 'proxyjump');
  return {
    alias,
    hostName,
    user,
    port,
    identityFiles: (r.get('identityfile') ?? []).map((f) => expandTokens(f, tokens)),
    identitiesOnly: first(r, 'identitiesonly') === 'yes',
    identityAgent: agent === undefined ? undefined : agent === 'none' || agent === 'SSH_AUTH_SOCK' ? agent : expandTokens(agent, tokens),
    userKnownHostsFiles: (first(r, 'userknownhostsfile') ?? '').split(' ').filter(Boolean).map((f) => expandTokens(f, tokens)),
    globalKnownHostsFiles: (first(r, 'globalknownhostsfile') ?? '').split(' ').filter(Boolean),
    strictHostKeyChecking: first(r, 'stricthostkeychecking') ?? 'ask',
    batchMode: first(r, 'batchmode') === 'yes',
    compression: first(r, 'compression') === 'yes',
    passwordAuthentication: first(r, 'passwordauthentication') !== 'no',
    connectTimeout: seconds(first(r, 'connecttimeout')),
    serverAliveInterval: first(r, 'serveraliveinterval') !== first(defaults, 'serveraliveinterval') ? seconds(first(r, 'serveraliveinterval')) : undefined,
    serverAliveCountMax: seconds(first(r, 'serveralivecountmax')) ?? 3,
    ciphers: changed('ciphers'),
    macs: changed('macs'),
    kexAlgorithms: changed('kexalgorithms'),
    hostKeyAlgorithms: changed('hostkeyalgorithms'),
    proxyCommand: proxyCommand === undefined || proxyCommand === 'none' ? undefined : proxyCommand,
    proxyJump: proxyJump === undefined || proxyJump === 'none' ? undefined : proxyJump,
  };
}
