import { SysError } from '../errors/index.js';
import { MOUNT_ATTR_RDONLY } from '../libc/constants.js';
import { resolveServer } from './nfs.js';
import { between, checkMountOptions, flag, oneOf, type CheckedOptions, type OptionCheck } from './policy.js';

// A kernel CIFS mount for a user, as mount.cifs would set it up, minus what makes mount.cifs
// dangerous: kmxd resolves the server (ip=), writes every option string itself, maps every file
// to the caller (uid, gid, forceuid, forcegid, file_mode, dir_mode: never the user's to set), and
// hands the password to the kernel once through the helper's stdin (fsconfig takes it whole, so
// a "," in it needs no escaping and smuggles nothing). Users' -o options pass an allow-list.

export type SmbVersion = '2.1' | '3.0' | '3.1.1' | 'default';

/** A user-supplied value as it may appear in a one-line message: quoted, escaped, cut short. */
const shown = (value: string): string => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
const refuse = (errno: string, what: string, detail: string): SysError => SysError.of(errno, what, undefined, { detail });

// , \ and control characters split or forge option strings and mountinfo lines; / splits UNCs.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[,\\\x00-\x1f\x7f]/;
/** Characters a share name may not have (Windows' and Samba's rule), besides UNSAFE. */
const NOT_IN_SHARE = /[/:*?"<>|=]/;

/** The largest user name, domain and password the kernel's CIFS client takes (CIFS_MAX_USERNAME_LEN and kin). */
const MAX_USER = 256;
const MAX_DOMAIN = 256;
const MAX_PASSWORD = 512;

export function checkShare(share: string): string {
  if (share === '' || Buffer.byteLength(share) > 80 || UNSAFE.test(share) || NOT_IN_SHARE.test(share) || share.trim() !== share) {
    throw refuse('EINVAL', 'share', `${shown(share)} is not a share name`);
  }
  return share;
}

/** A directory inside the share: "" or /a/b, plain components. */
export function checkSharePath(path: string): string {
  if (path === '') return path;
  const parts = path.split('/');
  if (!path.startsWith('/') || Buffer.byteLength(path) > 1024 || parts.slice(1).some((p) => p === '' || p === '.' || p === '..' || UNSAFE.test(p) || /[:*?"<>|]/.test(p))) {
    throw refuse('EINVAL', 'path', `${shown(path)} is not a plain directory path inside the share`);
  }
  return path;
}

/** A user name or domain: no , \ = or control characters (mount.cifs's own option parsing was smuggled that way). */
export function checkCredentialField(what: 'user' | 'domain', value: string): string {
  if (Buffer.byteLength(value) > (what === 'user' ? MAX_USER : MAX_DOMAIN) || UNSAFE.test(value) || value.includes('=') || value.includes('/')) {
    throw refuse('EINVAL', what, `the ${what === 'user' ? 'user name' : 'domain'} ${shown(value.slice(0, 32))} has a character it may not have (, \\ / = or a control character) or is too long`);
  }
  return value;
}

/** A password: any bytes but NUL, at most 512 of them; it is never shown. */
export function checkPassword(password: Uint8Array, kerberos: boolean): Buffer {
  const value = Buffer.from(password);
  if (kerberos) {
    if (value.length > 0) throw refuse('EINVAL', 'password', 'a Kerberos mount takes no password');
    return value;
  }
  if (value.length === 0) throw refuse('EINVAL', 'password', 'no password given');
  if (value.length > MAX_PASSWORD) throw refuse('EINVAL', 'password', `a password is at most ${MAX_PASSWORD} bytes`);
  if (value.includes(0)) throw refuse('EINVAL', 'password', 'a password may not contain a NUL byte');
  return value;
}

/**
 * CIFS options a user may set. Left out on purpose (refused like anything unknown): identity
 * and permission options (uid, gid, forceuid, forcegid, file_mode, dir_mode, cruid, setuids,
 * dynperm, multiuser, noperm, backupuid, backupgid), credentials (username, password,
 * credentials, domain, sec), and where to connect (ip, addr, unc, port, vers, prefixpath),
 * which kmxd sets from the request's typed fields.
 */
const SMB_OPTIONS: ReadonlyMap<string, OptionCheck> = new Map(Object.entries({
  soft: flag, hard: flag, actimeo: between(0, 3600), acregmax: between(0, 3600), acdirmax: between(0, 3600),
  cache: oneOf('strict', 'none', 'loose', 'singleclient'),
  rsize: between(4096, 8388608), wsize: between(4096, 8388608), echo_interval: between(1, 600),
  nobrl: flag, seal: flag, serverino: flag, noserverino: flag, nosharesock: flag, noblocksend: flag,
  mapchars: flag, nomapchars: flag, mapposix: flag, nocase: flag,
  // Symlinks kept as small files the client reads (Minshall+French): only links, on a nosuid,nodev mount.
  mfsymlinks: flag,
}));

/** The user's -o options for an SMB mount. */
export function checkSmbOptions(requested: ReadonlyArray<{ key?: string | null; value?: string | null }>): CheckedOptions {
  return checkMountOptions(requested, SMB_OPTIONS);
}

export interface SmbMountRequest {
  server: string;
  share: string;
  path: string;
  version: SmbVersion;
  readOnly: boolean;
  port: number;
  user: string;
  domain: string;
  password: Buffer;
  kerberos: boolean;
  checked: CheckedOptions;
  /** The caller, whom every file is mapped to. */
  uid: number;
  gid: number;
  /** Refuses a server address (once resolved) that kmxd's policy does not allow. */
  checkAddress: (address: string) => void;
}

export interface SmbMountSpec {
  fstype: 'cifs';
  source: string;
  options: Array<[string, string | true]>;
  attributes: number;
  secret?: { key: string; value: Buffer };
}

/** The source and option strings for the CIFS superblock (one fsconfig each), as mount.cifs would pass them. */
export async function smbMountSpec(request: SmbMountRequest): Promise<SmbMountSpec> {
  const { address, family } = await resolveServer(request.server);
  request.checkAddress(address);
  const options: Array<[string, string | true]> = [['ip', address]];
  if (request.port && request.port !== 445) options.push(['port', String(request.port)]);
  options.push(['vers', request.version]);
  if (request.user) options.push(['username', request.user]);
  if (request.domain) options.push(['domain', request.domain]);
  // The caller's ticket cache, found by the kernel's cifs.upcall as the caller (never root's).
  if (request.kerberos) options.push(['sec', 'krb5'], ['cruid', String(request.uid)]);
  options.push(['uid', String(request.uid)], ['forceuid', true], ['gid', String(request.gid)], ['forcegid', true], ['file_mode', '0644'], ['dir_mode', '0755']);
  options.push(...request.checked.options);
  // The name as the user gave it (mountinfo shows it); ip= says where it is.
  const host = family === 6 && request.server.includes(':') ? `[${request.server}]` : request.server;
  return {
    fstype: 'cifs',
    source: `//${host}/${request.share}${request.path}`,
    options,
    attributes: request.checked.attributes | (request.readOnly ? MOUNT_ATTR_RDONLY : 0),
    ...(request.kerberos ? {} : { secret: { key: 'password', value: request.password } }),
  };
}
