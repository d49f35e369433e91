// What the confinement suite checks after each request and each sequence: no reply carries
// anything of the outside tree, and the outside tree is exactly as it was.
import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { KMX_POSIX, decodeRecord } from '../src/lib/protocol/kmx-posix.js';
import { CANARY_GID, CANARY_UID, type Layout } from './confinement-tree.js';
import type { Reply } from './raw-sftp.js';

/** Everything outside the root as text: names, types, modes, owners, sizes, m/ctimes, link counts, contents. */
export function snapshot(l: Layout): string {
  const lines: string[] = [];
  const shared = join(l.linked, 'shared.txt');
  const walk = (path: string): void => {
    const st = fs.lstatSync(path, { bigint: true });
    const rel = relative(l.base, path) || '.';
    if (path === l.root) {
      lines.push(`${rel} (the root: served)`);
      return;
    }
    if (path === shared) {
      lines.push(`${rel} (hard-linked into the root: served)`);
      return;
    }
    let body = '';
    if (st.isFile()) body = fs.readFileSync(path).toString('base64');
    else if (st.isSymbolicLink()) body = fs.readlinkSync(path);
    lines.push(`${rel} mode=${st.mode.toString(8)} owner=${st.uid}:${st.gid} size=${st.size} mtime=${st.mtimeNs} ctime=${st.ctimeNs} nlink=${st.nlink} ${body}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(path).sort()) walk(join(path, name));
  };
  walk(l.base);
  return lines.join('\n');
}

export function diff(before: string, after: string): string {
  const a = new Set(before.split('\n'));
  const b = new Set(after.split('\n'));
  return [...[...a].filter((x) => !b.has(x)).map((x) => `- ${x}`), ...[...b].filter((x) => !a.has(x)).map((x) => `+ ${x}`)].join('\n');
}

/** What no reply may contain or show. Returns the problems found in one reply. */
export function leaks(l: Layout, reply: Reply): string[] {
  const found: string[] = [];
  for (const secret of l.secrets) if (reply.raw.includes(secret)) found.push(`carries outside ${secret.startsWith('hidden') ? 'name' : 'content'} ${secret}`);
  const attrs = [...(reply.attrs ? [reply.attrs] : []), ...(reply.names ?? []).map((n) => n.attrs)];
  for (const a of attrs) if (a.uid === CANARY_UID || a.gid === CANARY_GID) found.push(`shows attributes of an outside object (owner ${a.uid}:${a.gid})`);
  for (const a of attrs) {
    const pair = a.extended?.find(([type]) => type === KMX_POSIX);
    const record = pair && decodeRecord(pair[1]);
    if (pair && !record) found.push('carries a malformed STAT RECORD');
    if (record && l.inodes.has(record.ino)) found.push(`carries the STAT RECORD of an outside object (inode ${record.ino})`);
  }
  return found;
}
