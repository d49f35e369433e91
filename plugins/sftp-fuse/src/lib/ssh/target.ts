import { UsageError } from '@kmx/core';

/** What `kmx sftp mount` was asked to mount: [user@]host[:port]:[path]. */
export interface RemoteTarget {
  user: string | undefined;
  /** The host as typed: a name, an address, or a ~/.ssh/config alias. */
  host: string;
  port: number | undefined;
  /** '' means the login directory; relative paths start there too. */
  path: string;
}

const TARGET = /^(?:([^@:/]+)@)?(\[[^\]]+\]|[^:@/[\]\s]+)(?::(\d+))?:(.*)$/;
/** [user@]host alone: the login directory, as sshfs takes it. */
const HOST_ONLY = /^(?:([^@:/]+)@)?([^:@/[\]\s]+)()()$/;

export function parseTarget(text: string): RemoteTarget {
  const m = TARGET.exec(text) ?? (text.startsWith('-') ? null : HOST_ONLY.exec(text));
  if (!m) {
    throw new UsageError(`"${text}" is not a remote directory`, 'write it as [user@]host[:port]:[/path], e.g. alice@example:/srv, or myalias for the home directory');
  }
  const port = m[3] === undefined || m[3] === '' ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError(`port ${m[3]} in "${text}" is out of range`);
  const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  // It is handed to ssh (-G, ProxyJump, ssh_command) as an argument: never as an option.
  if (host.startsWith('-')) throw new UsageError(`"${host}" is not a host name`);
  return { user: m[1], host, port, path: m[4]! };
}

/** The target as sshfs and mountinfo show it. */
export function formatTarget(t: { user?: string | undefined; host: string; port?: number | undefined; path: string }): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user ? `${t.user}@` : ''}${host}${t.port && t.port !== 22 ? `:${t.port}` : ''}:${t.path}`;
}
