import { UsageError } from '@kmx/core';

// `//server/share[/path]` as users write it for mount.cifs (smb://server/share/path too).

export interface SmbShare {
  server: string;
  share: string;
  /** A directory inside the share to mount instead of its root: '' or '/a/b'. */
  path: string;
}

/** A share name as Samba and Windows allow it: no separators or quotes (control characters: see hasControl). */
const SHARE_NAME = /^[^\\/:*?"<>|]{1,80}$/;
const hasControl = (text: string): boolean => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
const SERVER_NAME = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]{1,253})$/;

export function parseShare(text: string): SmbShare {
  const match = /^(?:smb:)?(?:\/\/|\\\\)([^/\\]+)[/\\]([^/\\]+)((?:[/\\][^/\\]*)*)$/.exec(text);
  const hint = 'write it as //server/share (or //server/share/directory)';
  if (!match) throw new UsageError(`"${text}" is not an SMB share`, hint);
  const [, server, share, rest] = match as unknown as [string, string, string, string];
  if (!SERVER_NAME.test(server)) throw new UsageError(`"${server}" is not a server name`, `${hint}; a port goes in --port`);
  if (!SHARE_NAME.test(share) || hasControl(share)) throw new UsageError(`"${share}" is not a share name`, hint);
  const parts = rest.split(/[/\\]/).filter(Boolean);
  if (parts.some((p) => p === '.' || p === '..' || hasControl(p))) throw new UsageError(`"${text}": the path inside the share may not have . or .. or control characters`, hint);
  return { server: server.replace(/^\[(.*)\]$/, '$1'), share, path: parts.length > 0 ? `/${parts.join('/')}` : '' };
}

/** The default mount name: the last component of the share and path. */
export function defaultShareName(source: SmbShare): string {
  const last = source.path.split('/').filter(Boolean).at(-1) ?? source.share;
  return last.replace(/[^A-Za-z0-9._-]/g, '_') || 'smb';
}

export function shareText(source: SmbShare): string {
  return `//${source.server.includes(':') ? `[${source.server}]` : source.server}/${source.share}${source.path}`;
}

/** --vers as mount.cifs spells it, and the protocol name libsmbclient and smb.conf use for it. */
export const SMB_VERSIONS = { '3.1.1': 'SMB3_11', '3.0': 'SMB3_00', '2.1': 'SMB2_10' } as const;
export type SmbVersion = keyof typeof SMB_VERSIONS;
