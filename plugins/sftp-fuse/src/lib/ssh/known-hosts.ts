import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** How a server's host key compares with known_hosts. */
export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'unknown' }
  | { status: 'changed'; where: string }
  | { status: 'revoked'; where: string };

/** The names a host is listed under: "host" on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type named at the start of an SSH public key blob ("ssh-ed25519"). */
export function keyType(blob: Buffer): string {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** OpenSSH's fingerprint of a key: "SHA256:" and unpadded base64. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function globMatch(pattern: string, name: string): boolean {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i').test(name);
}

/** Whether one known_hosts host field (comma-separated patterns, or a |1|salt|hash) names `name`. */
function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (globMatch(pattern.slice(1), name)) return false;
    } else if (globMatch(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

interface KnownHostsLine {
  marker: string | undefined;
  hosts: string;
  type: string;
  key: string;
  where: string;
}

/** The entries of every file that exists, with where each is (file:line). */
function* entries(files: readonly string[]): Generator<KnownHostsLine> {
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (!line || line.startsWith('#')) continue;
      const fields = line.split(/\s+/);
      const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
      const [hosts, type, key] = fields;
      if (hosts && type && key) yield { marker, hosts, type, key, where: `${file}:${i + 1}` };
    }
  }
}

/**
 * Looks the key up in each file, as OpenSSH does: a listed key of the same blob is known; a
 * @revoked one is refused; the host listed with another key of the same type is a changed key.
 */
export function checkHostKey(files: readonly string[], name: string, blob: Buffer): HostKeyVerdict {
  const type = keyType(blob);
  const encoded = blob.toString('base64');
  let changed: string | undefined;
  let known = false;
  for (const entry of entries(files)) {
    if (!hostFieldMatches(entry.hosts, name) || entry.marker === '@cert-authority') continue;
    if (entry.marker === '@revoked') {
      if (entry.key === encoded) return { status: 'revoked', where: entry.where };
      continue;
    }
    if (entry.key === encoded) known = true;
    else if (entry.type === type) changed ??= entry.where;
  }
  if (known) return { status: 'known' };
  if (changed) return { status: 'changed', where: changed };
  return { status: 'unknown' };
}

/** The CA keys of the @cert-authority lines that name `name`, in every file. */
export function certAuthorities(files: readonly string[], name: string): Buffer[] {
  return [...entries(files)].filter((e) => e.marker === '@cert-authority' && hostFieldMatches(e.hosts, name)).map((e) => Buffer.from(e.key, 'base64'));
}

/** Adds the key under a hashed name (as HashKnownHosts does), creating ~/.ssh if needed. */
export function addHostKey(file: string, name: string, blob: Buffer): void {
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update(name).digest('base64');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let existing = '';
  try {
    existing = readFileSync(file, 'utf8');
  } catch {
    // a new file
  }
  const separator = existing && !existing.endsWith('\n') ? '\n' : '';
  appendFileSync(file, `${separator}|1|${salt.toString('base64')}|${hash} ${keyType(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}
