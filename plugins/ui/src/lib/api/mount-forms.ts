import { ApiError, booleanField, fieldsOf, stringField } from '../server/routes.js';
import { kmxOrFail, type KmxExecutable } from './kmx-child.js';

// The mount forms of the page, one per plugin: the fields become `kmx <plugin> mount` flags and
// arguments for a child process. Passwords go to that child's standard input, where each
// plugin reads one (sftp: -o password_stdin; enc: a line of piped stdin).

export const MOUNT_KINDS = ['passthrough', 'sftp', 'enc', 'nfs', 'procsys'] as const;
export type MountKind = (typeof MOUNT_KINDS)[number];

interface MountCommandLine {
  args: string[];
  stdin?: string;
}

/** A value given as an argument: never one that kmx would read as a flag. */
function positional(fields: Record<string, unknown>, name: string): string {
  const value = stringField(fields, name, { required: true })!;
  if (value.startsWith('-')) throw new ApiError(400, `${name} must not start with "-"`);
  return value;
}

/** A local path: absolute, since the page cannot know the server's working directory. */
function pathField(fields: Record<string, unknown>, name: string): string {
  const value = positional(fields, name);
  if (!value.startsWith('/')) throw new ApiError(400, `${name} must be an absolute path`);
  return value;
}

/** `--flag=value` (one argument, so a value can never be read as another flag). */
function flag(fields: Record<string, unknown>, field: string, name: string): string[] {
  const value = stringField(fields, field);
  return value === undefined ? [] : [`--${name}=${value}`];
}

/** `--flag=PATH` for a local file or directory: absolute, as pathField. */
function pathFlag(fields: Record<string, unknown>, field: string, name: string): string[] {
  const value = stringField(fields, field);
  if (value === undefined) return [];
  if (!value.startsWith('/')) throw new ApiError(400, `${field} must be an absolute path`);
  return [`--${name}=${value}`];
}

function switchFlag(fields: Record<string, unknown>, field: string, name: string): string[] {
  return booleanField(fields, field) ? [`--${name}`] : [];
}

function secret(fields: Record<string, unknown>, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length > 4096 || /[\0\n\r]/.test(value)) throw new ApiError(400, `${name} is not a valid value`);
  return value;
}

function port(fields: Record<string, unknown>, field: string, name: string): string[] {
  const value = stringField(fields, field);
  if (value === undefined) return [];
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new ApiError(400, `${field} must be a port number`);
  return [`--${name}=${value}`];
}

/** The command line (and stdin) of a mount asked for by the page. */
export function mountCommandLine(kind: string, body: unknown): MountCommandLine {
  const f = fieldsOf(body);
  switch (kind) {
    case 'passthrough':
      return { args: ['passthrough', '--daemon', ...(booleanField(f, 'readOnly') ? ['--option=ro'] : []), pathField(f, 'source'), pathField(f, 'mountpoint')] };
    case 'sftp': {
      const password = secret(f, 'password');
      return {
        args: ['sftp', 'mount', '--daemon', ...pathFlag(f, 'identity', 'identity'), ...port(f, 'port', 'port'), ...switchFlag(f, 'acceptNewHostKey', 'accept-new-host-key'),
          ...switchFlag(f, 'readOnly', 'read-only'), ...(password !== undefined ? ['--option=password_stdin'] : []), positional(f, 'remote'), pathField(f, 'mountpoint')],
        ...(password !== undefined ? { stdin: `${password}\n` } : {}),
      };
    }
    case 'enc': {
      const password = secret(f, 'password');
      if (password === undefined) throw new ApiError(400, 'password is required');
      return { args: ['enc', 'mount', '--daemon', ...switchFlag(f, 'reverse', 'reverse'), ...switchFlag(f, 'readOnly', 'ro'), pathField(f, 'dir'), pathField(f, 'mountpoint')], stdin: `${password}\n` };
    }
    case 'nfs': {
      const mode = stringField(f, 'mode') ?? 'kernel';
      if (mode !== 'kernel' && mode !== 'userspace') throw new ApiError(400, 'mode is kernel or userspace');
      const name = stringField(f, 'name');
      if (name?.startsWith('-')) throw new ApiError(400, 'name must not start with "-"');
      return {
        args: ['nfs', 'mount', mode === 'kernel' ? '--kernel' : '--userspace', ...flag(f, 'vers', 'vers'), ...switchFlag(f, 'readOnly', 'ro'), ...port(f, 'port', 'port'), ...port(f, 'mountPort', 'mount-port'),
          ...pathFlag(f, 'link', 'link'), ...(mode === 'userspace' ? pathFlag(f, 'mountpoint', 'mountpoint') : []), positional(f, 'source'), ...(name !== undefined ? [name] : [])],
      };
    }
    case 'procsys': {
      const peers = (stringField(f, 'peers') ?? '').split(/[\s,]+/).filter((p) => p !== '');
      if (peers.some((p) => !/^[^=\s]+=[^\s]+$/.test(p))) throw new ApiError(400, 'peers are NAME=HOST:PORT, separated by commas');
      return {
        args: ['procsys', 'mount', '--daemon', ...peers.map((p) => `--peer=${p}`), ...pathFlag(f, 'certs', 'certs'), ...pathFlag(f, 'cluster', 'cluster'), ...flag(f, 'name', 'name'),
          ...switchFlag(f, 'allowDown', 'allow-down'), pathField(f, 'mountpoint')],
      };
    }
    default:
      throw new ApiError(404, `no mount form for ${kind}: one of ${MOUNT_KINDS.join(', ')}`);
  }
}

/** Mounts as the page asked, as this server's user; resolves to what the command said. */
export async function mountFromForm(kmx: KmxExecutable, kind: string, body: unknown): Promise<{ output: string }> {
  const line = mountCommandLine(kind, body);
  const output = await kmxOrFail(kmx, line.args, `kmx ${kind} mount`, line.stdin !== undefined ? { stdin: line.stdin } : {});
  return { output: output.trim() };
}
