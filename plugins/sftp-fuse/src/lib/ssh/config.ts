import { readdirSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { UsageError } from '@kmx/core';

/** The parts of ~/.ssh/config (ssh_config(5)) kmx sftp uses, for one host alias. */
export interface HostConfig {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  identitiesOnly?: boolean;
  userKnownHostsFiles?: string[];
  strictHostKeyChecking?: string;
  connectTimeout?: number;
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
  identityAgent?: string;
  ciphers?: string[];
}

interface Directive {
  key: string;
  args: string[];
}

/** Splits a config line into keyword and arguments ("Key value", "Key=value", quoted args). */
function parseLine(line: string): Directive | undefined {
  const trimmed = line.trim();
  if (!trimmed || trimmed.startsWith('#')) return undefined;
  const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(trimmed);
  if (!m) return { key: trimmed.toLowerCase(), args: [] };
  const args: string[] = [];
  for (const a of m[2]!.matchAll(/"([^"]*)"|(\S+)/g)) args.push(a[1] ?? a[2]!);
  return { key: m[1]!.toLowerCase(), args };
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** ssh_config Host patterns: any positive match and no negated match. */
export function hostMatches(patterns: readonly string[], host: string): boolean {
  let matched = false;
  for (const p of patterns.flatMap((x) => x.split(','))) {
    if (p.startsWith('!')) {
      if (globToRegExp(p.slice(1)).test(host)) return false;
    } else if (globToRegExp(p).test(host)) {
      matched = true;
    }
  }
  return matched;
}

const MAX_INCLUDE_DEPTH = 8;

/** Lines of a config file with Include expanded in place (relative to ~/.ssh; * and ? globs in the file name). */
function readDirectives(file: string, depth = 0): Directive[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Directive[] = [];
  for (const line of text.split('\n')) {
    const d = parseLine(line);
    if (!d) continue;
    if (d.key !== 'include') {
      out.push(d);
      continue;
    }
    if (depth >= MAX_INCLUDE_DEPTH) continue;
    for (const arg of d.args) {
      const path = expandHome(arg);
      const full = isAbsolute(path) ? path : join(homedir(), '.ssh', path);
      const re = globToRegExp(basename(full));
      let names: string[] = [];
      try {
        names = /[*?]/.test(basename(full)) ? readdirSync(dirname(full)).filter((n) => re.test(n)).sort() : [basename(full)];
      } catch {
        names = [];
      }
      for (const name of names) out.push(...readDirectives(join(dirname(full), name), depth + 1));
    }
  }
  return out;
}

/** The local login name, as ssh takes it for the remote one when none is given. */
export function localUserName(): string {
  try {
    return userInfo().username;
  } catch {
    throw new UsageError(`uid ${process.getuid?.() ?? '?'} has no user name (no passwd entry); give one: user@host`);
  }
}

export function expandHome(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/** %h %p %r %u %d %% in IdentityFile and UserKnownHostsFile values. */
function expandTokens(value: string, host: string, user: string | undefined, port: number | undefined): string {
  return expandHome(value).replace(/%([%hprud])/g, (_, t: string) => {
    switch (t) {
      case 'h': return host;
      case 'p': return String(port ?? 22);
      case 'r': return user ?? localUserName();
      case 'u': return localUserName();
      case 'd': return homedir();
      default: return '%';
    }
  });
}

/**
 * Settings for `alias` from ~/.ssh/config (or `file`): the first value of each keyword wins,
 * IdentityFile accumulates, as ssh does. Match blocks are skipped (not evaluated).
 */
export function readHostConfig(alias: string, file = join(homedir(), '.ssh', 'config')): HostConfig {
  const config: HostConfig = { identityFiles: [] };
  const rawIdentities: string[] = [];
  let active = true;
  for (const { key, args } of readDirectives(file)) {
    if (key === 'host') {
      active = hostMatches(args, alias);
      continue;
    }
    if (key === 'match') {
      active = args[0]?.toLowerCase() === 'all';
      continue;
    }
    if (!active || args.length === 0) continue;
    const value = args[0]!;
    const number = Number(value);
    switch (key) {
      case 'hostname': config.hostName ??= value; break;
      case 'user': config.user ??= value; break;
      case 'port': if (config.port === undefined && Number.isInteger(number)) config.port = number; break;
      case 'identityfile': rawIdentities.push(value); break;
      case 'identitiesonly': config.identitiesOnly ??= value.toLowerCase() === 'yes'; break;
      case 'userknownhostsfile': config.userKnownHostsFiles ??= args; break;
      case 'stricthostkeychecking': config.strictHostKeyChecking ??= value.toLowerCase(); break;
      case 'connecttimeout': if (config.connectTimeout === undefined && number > 0) config.connectTimeout = number; break;
      case 'serveraliveinterval': if (config.serverAliveInterval === undefined && number >= 0) config.serverAliveInterval = number; break;
      case 'serveralivecountmax': if (config.serverAliveCountMax === undefined && number > 0) config.serverAliveCountMax = number; break;
      case 'identityagent': config.identityAgent ??= value; break;
      case 'ciphers': config.ciphers ??= value.split(','); break;
      default: break;
    }
  }
  const host = (config.hostName ?? alias).replace(/%h/g, alias);
  config.hostName = host;
  config.identityFiles = rawIdentities.map((f) => expandTokens(f, host, config.user, config.port));
  if (config.userKnownHostsFiles) config.userKnownHostsFiles = config.userKnownHostsFiles.map((f) => expandTokens(f, host, config.user, config.port));
  if (config.identityAgent) config.identityAgent = expandTokens(config.identityAgent, host, config.user, config.port);
  return config;
}
