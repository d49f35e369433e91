import { spawnSync } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

// mount(8) and fstab for kmx's FUSE filesystems: `mount -t fuse.kmx-sftp SOURCE DIR -o OPTS`
// (or an fstab line of that type) has mount.fuse3 run `kmx-sftp SOURCE DIR -o OPTS`, as it runs
// `sshfs` for fuse.sshfs. This turns such a call into the kmx command that mounts in the
// background, and lets kmx take only the options that are its own.

export const HELPER_TYPES = ['passthrough', 'sftp', 'enc', 'procsys', 'nfs', 'smb'] as const;
export type HelperType = (typeof HELPER_TYPES)[number];

/** What mount(8), fstab and systemd write into the options for themselves, not for kmx. */
const MOUNT_ONLY = /^(defaults|auto|noauto|user|users|nouser|owner|group|nofail|_netdev|netdev|loop)$|^(x-[^=]*|comment|helper|fsname|subtype)(=|$)/;

/**
 * Options that become flags of the kmx command, per type: credentials and targets an fstab line
 * must carry (key files, password files, certificates), and plain words for flags.
 */
const FLAG_OPTIONS: Record<HelperType, Record<string, string>> = {
  passthrough: {},
  sftp: { identity: '--identity', via: '--via', accept_new_host_key: '--accept-new-host-key' },
  enc: { passfile: '--passfile', extpass: '--extpass', reverse: '--reverse' },
  procsys: { certs: '--certs', name: '--name', peer: '--peer', cluster: '--cluster', timeout: '--timeout', allow_down: '--allow-down', writable: '--writable' },
  nfs: { vers: '--vers', port: '--port', mountport: '--mount-port', timeout: '--timeout' },
  // mount.cifs's names: a password only ever through credentials= (a 0600 file of the user's).
  smb: { credentials: '--credentials', cred: '--credentials', username: '--user', user: '--user', domain: '--domain', vers: '--vers', port: '--port', sec: '--sec', timeout: '--timeout' },
};

export interface HelperCall {
  source: string;
  mountpoint: string;
  options: string[];
}

/**
 * The items of one -o string, split at the commas that are not escaped (`\,` is a comma
 * inside a value, as libfuse reads it); escapes are kept, for kmx to read the same way.
 */
function optionItems(spec: string): string[] {
  const items = [''];
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === ',') items.push('');
    else items[items.length - 1] += c === '\\' && i + 1 < spec.length ? c + spec[++i] : c;
  }
  return items.filter(Boolean);
}

/** Parses mount.TYPE's arguments: SOURCE DIR, then -o OPTS (repeatable), -s -f -n -v, -N NS, -t TYPE. */
export function parseHelperArgs(args: readonly string[]): HelperCall {
  const positional: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-o') options.push(...optionItems(args[++i] ?? ''));
    else if (arg.startsWith('-o')) options.push(...optionItems(arg.slice(2)));
    else if (arg === '-t' || arg === '-N') i++; // the type (this program's), a namespace (mount(8) entered it)
    else if (/^-[sfnv]+$/.test(arg)) continue; // sloppy, fake, no mtab, verbose: nothing to do here
    else if (arg.startsWith('-')) throw new Error(`unknown argument "${arg}"`);
    else positional.push(arg);
  }
  if (positional.length !== 2) throw new Error('usage: kmx-TYPE SOURCE MOUNTPOINT [-o OPTIONS]');
  return { source: positional[0]!, mountpoint: positional[1]!, options };
}

/** The kmx command line for a mount.TYPE call. */
export function kmxArguments(type: HelperType, call: HelperCall): string[] {
  const flags: string[] = [];
  const rest: string[] = [];
  for (const option of call.options) {
    if (MOUNT_ONLY.test(option)) continue;
    const eq = option.indexOf('=');
    const key = (eq < 0 ? option : option.slice(0, eq)).replaceAll('-', '_');
    const flag = FLAG_OPTIONS[type][key];
    if (flag === undefined) rest.push(option);
    else if (eq < 0) flags.push(flag);
    else flags.push(flag, option.slice(eq + 1).replace(/\\(.)/g, '$1')); // a flag's value is not -o: unescaped
  }
  const o = rest.length > 0 ? ['-o', rest.join(',')] : [];
  switch (type) {
    case 'passthrough': return ['passthrough', '--daemon', ...flags, ...o, call.source, call.mountpoint];
    case 'sftp': return ['sftp', 'mount', '--daemon', ...flags, ...o, call.source, call.mountpoint];
    case 'enc': return ['enc', 'mount', '--daemon', ...flags, ...o, call.source, call.mountpoint];
    case 'procsys': return ['procsys', 'mount', '--daemon', ...flags, ...o, call.mountpoint];
    // In user space, in the background (its default), named for the mountpoint.
    case 'nfs': return ['nfs', 'mount', '--userspace', '--mountpoint', call.mountpoint, ...flags, ...o, call.source, basename(call.mountpoint)];
    case 'smb': return ['smb', 'mount', '--userspace', '--mountpoint', call.mountpoint, ...flags, ...o, call.source, basename(call.mountpoint)];
  }
}

/** Runs mount.TYPE's call as the kmx command; its exit code (kmx prints its own one-line errors). */
export function runMountHelper(type: HelperType, args: readonly string[]): number {
  let call: HelperCall;
  try {
    call = parseHelperArgs(args);
  } catch (err) {
    process.stderr.write(`kmx-${type}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const kmx = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));
  // Quiet on success, as mount helpers are (kmx says where it mounted); errors keep stderr.
  const r = spawnSync(process.execPath, [kmx, ...kmxArguments(type, call)], { stdio: ['inherit', 'ignore', 'inherit'] });
  return r.status ?? 1;
}
