import { UsageError } from '@kmx/core';

// `server:/export` as users write it for mount.nfs, with [IPv6]:/export.

export interface NfsSource {
  server: string;
  exportPath: string;
}

export function parseSource(text: string): NfsSource {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:/\s[\]]+):(\/.*)$/.exec(text);
  if (!match) throw new UsageError(`"${text}" is not an NFS source`, 'write it as server:/export (or [ipv6]:/export)');
  const server = match[1]!.replace(/^\[(.*)\]$/, '$1');
  return { server, exportPath: match[2]!.replace(/(.)\/+$/, '$1') };
}

/** The default mount name: the export's last component, else the server's name. */
export function defaultName(source: NfsSource): string {
  const last = source.exportPath.split('/').filter(Boolean).at(-1) ?? source.server;
  return last.replace(/[^A-Za-z0-9._-]/g, '_') || 'nfs';
}

export const NFS_VERSIONS = ['4.2', '4.1', '4', '3'] as const;
export type NfsVersionFlag = (typeof NFS_VERSIONS)[number];
