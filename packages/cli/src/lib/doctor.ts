import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '@oclif/core';
import { DOCTOR_HOOK, ENGINE_NAMES, libc, nativeListing, selectEngine, type DoctorCheck, type DoctorHook } from '@kmx/core';
import { kmxdSocketPath } from '@kmx/core/daemon';

export type Check = DoctorCheck;

const APT = 'apt-get install -y';

async function findProgram(name: string, extraDirs: readonly string[] = []): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', ...extraDirs];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function devFuse(): Promise<Check> {
  const name = '/dev/fuse';
  try {
    const info = await stat(name);
    if (!info.isCharacterDevice()) return { name, ok: false, detail: 'exists but is not a character device', fix: 'mknod /dev/fuse c 10 229', required: true };
    if ((info.mode & 0o006) !== 0o006) {
      return { name, ok: false, detail: `mode ${(info.mode & 0o777).toString(8)}: only root can mount (libfuse opens it as the user)`, fix: 'chmod 0666 /dev/fuse', required: process.getuid?.() !== 0 };
    }
    await access(name, fsConstants.R_OK | fsConstants.W_OK);
    return { name, ok: true, detail: 'read/write for everyone', required: true };
  } catch (err) {
    const missing = (err as { code?: string }).code === 'ENOENT';
    return { name, ok: false, detail: missing ? 'missing' : 'not accessible', fix: missing ? 'modprobe fuse (in a container: --device /dev/fuse)' : 'run as root', required: true };
  }
}

async function fusermount(): Promise<Check> {
  const name = 'fusermount3';
  const path = await findProgram(name);
  if (!path) return { name, ok: false, detail: 'missing', fix: `${APT} fuse3`, required: true };
  const info = await stat(path);
  const setuid = (info.mode & 0o4000) !== 0 && info.uid === 0;
  return setuid
    ? { name, ok: true, detail: `${path} (setuid root: users can mount)`, required: true }
    : { name, ok: false, detail: `${path} is not setuid root: only root can mount`, fix: `chmod u+s ${path}`, required: false };
}

function sharedLibrary(name: string, file: string, pkg: string, purpose: string): Check {
  try {
    libc.koffi().load(file).unload();
    return { name, ok: true, detail: `${file} (${purpose})`, required: false };
  } catch {
    return { name, ok: false, detail: `${file} not found (${purpose})`, fix: `${APT} ${pkg}`, required: false };
  }
}

/** kmx-dirlist, which answers kmx passthrough's and kmx enc's READDIRPLUS in one call per directory, and their stats. */
function directoryLister(): Check {
  const name = 'directory lister';
  return nativeListing()
    ? { name, ok: true, detail: 'native (kmx-dirlist): listings with attributes in one call, stats without BigInts', required: false }
    : { name, ok: false, detail: 'not built: directory listings and stats use Node\'s fs, slower', fix: 'npm run build (needs gcc)', required: false };
}

function engines(): Check[] {
  const checks: Check[] = ENGINE_NAMES.map((engine) => {
    try {
      selectEngine(engine);
      return { name: `engine ${engine}`, ok: true, detail: 'can serve mounts', required: false };
    } catch (err) {
      return { name: `engine ${engine}`, ok: false, detail: err instanceof Error ? err.message : String(err), fix: 'npm run setup', required: false };
    }
  });
  const any = checks.some((c) => c.ok);
  checks.push({ name: 'FUSE engine', ok: any, detail: any ? 'at least one engine works' : 'no engine works: kmx cannot mount', required: true, ...(any ? {} : { fix: 'npm run setup' }) });
  return checks;
}

async function kernelFilesystems(): Promise<Check[]> {
  const text = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  const types = new Set(text.split('\n').map((l) => l.trim().split(/\s+/).pop()).filter(Boolean));
  const fix = (fs: string): string => `modprobe ${fs} (not possible in every container or VM)`;
  return [
    { name: 'kernel fuse', ok: types.has('fuse'), detail: types.has('fuse') ? 'in /proc/filesystems' : 'not in /proc/filesystems', required: true, ...(types.has('fuse') ? {} : { fix: fix('fuse') }) },
    ...['nfs', 'nfs4'].map((fs): Check => ({
      name: `kernel ${fs}`,
      ok: types.has(fs),
      detail: types.has(fs) ? 'in /proc/filesystems' : 'not in /proc/filesystems: kmx nfs mounts in user space instead',
      required: false,
      ...(types.has(fs) ? {} : { fix: fix(fs) }),
    })),
  ];
}

async function userNamespaces(): Promise<Check> {
  const name = 'unprivileged user namespaces';
  const read = (path: string): Promise<string | undefined> => readFile(path, 'utf8').then((t) => t.trim(), () => undefined);
  const [clone, max, apparmor] = await Promise.all([
    read('/proc/sys/kernel/unprivileged_userns_clone'),
    read('/proc/sys/user/max_user_namespaces'),
    read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
  ]);
  if (clone === '0') return { name, ok: false, detail: 'disabled (kernel.unprivileged_userns_clone=0)', fix: 'sysctl -w kernel.unprivileged_userns_clone=1', required: false };
  if (max === '0') return { name, ok: false, detail: 'disabled (user.max_user_namespaces=0)', fix: 'sysctl -w user.max_user_namespaces=10000', required: false };
  if (apparmor === '1') return { name, ok: false, detail: 'restricted by AppArmor', fix: 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0', required: false };
  return { name, ok: true, detail: `allowed (max ${max ?? '?'})`, required: false };
}

/** kmxd where the clients look for it: $KMXD_SOCKET, else /run/kmxd.sock. */
function kmxd(): Promise<Check> {
  const name = 'kmxd';
  const socketPath = kmxdSocketPath();
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    const done = (check: Check): void => {
      socket.destroy();
      resolve(check);
    };
    socket.setTimeout(1000, () => done({ name, ok: false, detail: `${socketPath} does not answer`, fix: 'restart kmxd', required: false }));
    socket.on('connect', () => done({ name, ok: true, detail: `answers on ${socketPath}`, required: false }));
    socket.on('error', () => done({
      name, ok: false, required: false,
      detail: `not running (no ${socketPath}): kernel NFS mounts for users need it; kmx nfs falls back to user space`,
      fix: 'as root: systemctl enable --now kmxd.socket (packages/core/systemd), or run packages/core/bin/kmxd.js (see kmxd --help)',
    }));
  });
}

const PROGRAMS: ReadonlyArray<{ program: string; pkg: string; usedBy: string; dirs?: string[] }> = [
  { program: 'sftp-server', pkg: 'openssh-sftp-server', usedBy: 'kmx sftp mount --via, its tests', dirs: ['/usr/lib/openssh', '/usr/libexec/openssh', '/usr/libexec'] },
  { program: 'ssh', pkg: 'openssh-client', usedBy: 'kmx sftp tests (ssh-keygen, ssh-agent, sftp -D); kmx sftp itself speaks SSH through ssh2' },
  { program: 'sshfs', pkg: 'sshfs', usedBy: 'kmx sftp benchmark and tests (the peer)' },
  { program: 'gocryptfs', pkg: 'gocryptfs', usedBy: 'kmx enc (interop and restore)' },
  { program: 'rsync', pkg: 'rsync', usedBy: 'kmx nfs backup' },
  { program: 'dot', pkg: 'graphviz', usedBy: 'kmx ns graph\'s DOT output piped to Graphviz, and its tests' },
  { program: 'lsns', pkg: 'util-linux', usedBy: 'kmx ns (comparison)' },
];

async function programs(): Promise<Check[]> {
  return Promise.all(PROGRAMS.map(async ({ program, pkg, usedBy, dirs }): Promise<Check> => {
    const path = await findProgram(program, dirs);
    return path
      ? { name: program, ok: true, detail: `${path} (${usedBy})`, required: false }
      : { name: program, ok: false, detail: `missing (${usedBy})`, fix: `${APT} ${pkg}`, required: false };
  }));
}

/** Whether this process started from the bundle's code cache: without it every command starts slower. */
function codeCache(): Check {
  const name = 'start-up code cache';
  const require = createRequire(import.meta.url);
  const loaded = require.cache[require.resolve('@kmx/core/bundle/load.js')]?.exports as { codeCache(): { file: string; state: 'used' | 'missing' | 'refused' } } | undefined;
  if (!loaded) return { name, ok: false, detail: 'kmx runs unbundled here: commands start slower', fix: 'npm run build', required: false };
  const { file, state } = loaded.codeCache();
  if (state === 'used') return { name, ok: true, detail: file, required: false };
  return {
    name, ok: false, required: false,
    detail: `${file} ${state === 'missing' ? 'is missing' : 'was made by another Node'}: commands start slower`,
    fix: 'KMX_CODE_CACHE=refresh kmx --help, as the owner of kmx\'s files',
  };
}

/** Every check, in a stable order. */
export async function runDoctor(): Promise<Check[]> {
  const [dev, fm, fsTypes, userns, daemon, progs] = await Promise.all([devFuse(), fusermount(), kernelFilesystems(), userNamespaces(), kmxd(), programs()]);
  return [
    dev,
    fm,
    codeCache(),
    sharedLibrary('libfuse2', 'libfuse.so.2', 'libfuse2', 'fuse-native engine'),
    sharedLibrary('libfuse3', 'libfuse3.so.3', 'libfuse3-3', 'libfuse3 engine'),
    ...engines(),
    directoryLister(),
    ...fsTypes,
    userns,
    daemon,
    ...progs,
  ];
}


/** The lines plugins add through their kmx-doctor hooks, plugin by plugin in name order; a failing hook is a line of its own. */
export async function runPluginChecks(config: Config): Promise<Check[]> {
  const checks: Check[] = [];
  const plugins = [...config.getPluginsList()].sort((a, b) => a.name.localeCompare(b.name));
  for (const plugin of plugins) {
    for (const hook of plugin.hooks[DOCTOR_HOOK] ?? []) {
      try {
        const file = isAbsolute(hook.target) ? hook.target : join(plugin.root, hook.target);
        const module = (await import(pathToFileURL(file).href)) as Record<string, DoctorHook | undefined>;
        checks.push(...((await module[hook.identifier ?? 'default']?.()) ?? []));
      } catch (err) {
        checks.push({ name: plugin.name, ok: false, detail: `its doctor checks failed: ${err instanceof Error ? err.message : String(err)}`, fix: 'npm run build', required: false });
      }
    }
  }
  return checks;
}
