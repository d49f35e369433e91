import { isIP } from 'node:net';
import { SysError } from '../errors/index.js';
import { MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY } from '../libc/constants.js';

// What a user may ask kmxd for. Everything here refuses by default: names, links and options
// pass only when they match a rule, and kmxd writes the option strings itself.

/** A user-supplied value as it may appear in a one-line message: quoted, escaped, cut short. */
const shown = (value: string): string => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);

const refuse = (errno: string, what: string, detail: string): SysError => SysError.of(errno, what, undefined, { detail });

// , \ tab newline NUL (and every other control character) smuggle options or forge mountinfo lines.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[,\\\x00-\x1f\x7f]/;

/**
 * What would let a name pass for another in logs, mountinfo and `kmx mounts`: control and
 * format characters (bidi overrides such as U+202E, zero-width ones), separators (every space,
 * line and paragraph separator), private-use, surrogate and unassigned code points, and
 * look-alikes of "/" (U+2044, U+2215, U+29F8, U+FF0F).
 */
const SPOOFING = /[\p{Cc}\p{Cf}\p{Z}\p{Co}\p{Cs}\p{Cn}\u2044\u2215\u29f8\uff0f]/u;

/**
 * A mount name: one printable component, at most 255 bytes, not . or .., no '/', no
 * characters that break option strings or mountinfo.
 */
export function checkMountName(name: string): string {
  if (name === '' || name === '.' || name === '..') throw refuse('EINVAL', 'name', `${shown(name)} is not a usable mount name`);
  if (Buffer.byteLength(name) > 255) throw refuse('ENAMETOOLONG', 'name', 'mount names are at most 255 bytes');
  if (name.includes('/')) throw refuse('EINVAL', 'name', 'a mount name is one path component (no "/")');
  if (UNSAFE.test(name) || /\s/.test(name) || SPOOFING.test(name)) {
    throw refuse('EINVAL', 'name', 'a mount name may not contain spaces, control or format characters (bidi, zero-width), look-alikes of "/", "," or "\\"');
  }
  return name;
}

/** A user name from passwd that is safe as a directory name under /run/media. */
export function checkUserName(name: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\$?$/.test(name) || name === '.' || name === '..') {
    throw refuse('EPERM', 'user', `user name ${shown(name)} cannot name a directory under /run/media`);
  }
  return name;
}

/**
 * A symlink path relative to $HOME: plain components only (no '..', '.', empty or absolute).
 * The helper then resolves it beneath the home with no symlink followed, as the user.
 */
export function checkLinkPath(link: string): string {
  if (link.startsWith('/')) throw refuse('EINVAL', 'link', 'the link path is relative to your home directory');
  const parts = link.split('/');
  if (Buffer.byteLength(link) > 1024 || parts.some((p) => p === '' || p === '.' || p === '..' || UNSAFE.test(p) || SPOOFING.test(p))) {
    throw refuse('EINVAL', 'link', `${shown(link)} is not a plain path beneath your home directory`);
  }
  return link;
}

/** A server as the client named it: an IP address or a DNS name (resolved by kmxd). */
export function checkServer(server: string): string {
  if (isIP(server)) return server;
  if (!/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(server)) {
    throw refuse('EINVAL', 'server', `${shown(server)} is not a host name or address`);
  }
  return server;
}

export function checkExportPath(path: string): string {
  if (!path.startsWith('/') || Buffer.byteLength(path) > 1024 || UNSAFE.test(path) || SPOOFING.test(path.replaceAll(' ', '')) || path.split('/').some((p) => p === '..')) {
    throw refuse('EINVAL', 'export', `${shown(path)} is not an absolute export path`);
  }
  return path;
}

/** A value rule of an allowed mount option (flags take ""). */
export type OptionCheck = (value: string) => boolean;
export const between = (min: number, max: number): OptionCheck => (v) => /^\d{1,9}$/.test(v) && Number(v) >= min && Number(v) <= max;
export const oneOf = (...values: string[]): OptionCheck => (v) => values.includes(v);
export const flag: OptionCheck = (v) => v === '';

/** NFS options a user may set, each with its value rule (flags take ""). */
const NFS_OPTIONS: ReadonlyMap<string, OptionCheck> = new Map(Object.entries({
  soft: flag, hard: flag, softerr: flag,
  timeo: between(1, 6000), retrans: between(0, 100),
  rsize: between(4096, 1048576), wsize: between(4096, 1048576),
  ac: flag, noac: flag, actimeo: between(0, 3600),
  acregmin: between(0, 3600), acregmax: between(0, 3600), acdirmin: between(0, 3600), acdirmax: between(0, 3600),
  cto: flag, nocto: flag, rdirplus: flag, nordirplus: flag, sharecache: flag, nosharecache: flag,
  lookupcache: oneOf('all', 'none', 'positive'),
  sec: oneOf('sys', 'krb5', 'krb5i', 'krb5p'),
  noresvport: flag, lock: flag, nolock: flag, local_lock: oneOf('none', 'all', 'flock', 'posix'),
}));

/** Options that are mount attributes, never option strings. */
// Maps, not object literals: a key such as __proto__ must find nothing.
const ATTRIBUTE_OPTIONS: ReadonlyMap<string, number> = new Map([['noexec', MOUNT_ATTR_NOEXEC], ['nosymfollow', MOUNT_ATTR_NOSYMFOLLOW], ['ro', MOUNT_ATTR_RDONLY]]);

export interface CheckedOptions {
  options: Array<[string, string | true]>;
  attributes: number;
}

/**
 * The user's -o options, each checked against `allowed` (or one of the mount attributes noexec,
 * nosymfollow, ro); at most 16, values at most 64 bytes.
 */
export function checkMountOptions(requested: ReadonlyArray<{ key?: string | null; value?: string | null }>, allowed: ReadonlyMap<string, OptionCheck>): CheckedOptions {
  if (requested.length > 16) throw refuse('E2BIG', 'options', 'at most 16 options');
  const options: Array<[string, string | true]> = [];
  let attributes = 0;
  const seen = new Set<string>();
  for (const { key = '', value = '' } of requested) {
    const k = key ?? '';
    const v = value ?? '';
    if (UNSAFE.test(k) || UNSAFE.test(v) || k.includes('=') || v.length > 64) {
      throw refuse('EINVAL', 'options', `option ${shown(k.slice(0, 32))} contains a character options may not have (, \\ tab newline NUL)`);
    }
    if (seen.has(k)) throw refuse('EINVAL', 'options', `option ${shown(k)} given twice`);
    seen.add(k);
    const attribute = ATTRIBUTE_OPTIONS.get(k);
    if (attribute !== undefined && v === '') {
      attributes |= attribute;
      continue;
    }
    const rule = allowed.get(k);
    if (!rule) throw refuse('EPERM', 'options', `option ${shown(k.slice(0, 32))} is not allowed (allowed: ${[...allowed.keys(), ...ATTRIBUTE_OPTIONS.keys()].join(', ')})`);
    if (!rule(v)) throw refuse('EINVAL', 'options', v === '' ? `option ${shown(k)} needs a value` : `${shown(v)} is not a valid value for ${k}`);
    options.push([k, v === '' ? true : v]);
  }
  return { options, attributes };
}

/** The user's -o options for an NFS mount. */
export function checkNfsOptions(requested: ReadonlyArray<{ key?: string | null; value?: string | null }>): CheckedOptions {
  return checkMountOptions(requested, NFS_OPTIONS);
}

/** The size of a user's tmpfs in MiB: 64 by default, at most 1024. */
export function checkTmpfsSize(mib: number): number {
  if (mib === 0) return 64;
  if (!Number.isInteger(mib) || mib < 1 || mib > 1024) throw refuse('EINVAL', 'size', 'a tmpfs is 1 to 1024 MiB');
  return mib;
}
