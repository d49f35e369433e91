import { lstat, mkdir, readlink, rm, symlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { KmxError, MountCommand, MountStatusReporter, UsageError, canonicalMountpoint, mountAt, readMountinfo, type MountFlags } from '@kmx/core';
import { DaemonError, DaemonUnavailableError, requestKmxd } from '@kmx/core/daemon';
import { kernelHasNfs, mountThroughKmxd, splitNfsOptions } from '../../lib/kernel/kernel-mount.js';
import { defaultName, NFS_VERSIONS, parseSource, type NfsSource, type NfsVersionFlag } from '../../lib/source.js';
import { claimMount, usableMountName } from '../../lib/mounts.js';
import { defaultMountpoint, forgetEnded, forgetMount, makeMountpoint, removeMountpoint, saveMount } from '../../lib/state.js';
import { connectUserspace } from '../../lib/userspace/connect.js';
import { NfsFileSystem } from '../../lib/userspace/filesystem.js';
import { NFS_FUSE_DEFAULTS, userspaceOptionParser } from '../../lib/userspace/serve-options.js';
import { statusText } from '../../lib/userspace/status.js';

interface UserspaceFlags extends MountFlags {
  vers?: string | undefined;
  ro: boolean;
  port?: number | undefined;
  'mount-port'?: number | undefined;
  link?: string | undefined;
  mountpoint?: string | undefined;
  foreground: boolean;
  timeout?: number | undefined;
  option?: string[] | undefined;
}

export default class NfsMount extends MountCommand {
  static override summary = 'Mount an NFS export: a kernel mount through kmxd, or in user space (libnfs over FUSE).';
  static override description = `Through kmxd (the root daemon), the kernel mounts server:/export at /run/media/$USER/NAME, always nosuid,nodev, with the options mount.nfs would pass (addr=, clientaddr=, vers=). kmxd checks every -o option against its allow-list.
When the kernel has no NFS client or kmxd is not running, kmx says so in one line and mounts in user space instead: libnfs (NFSv3, or NFSv4.0 within libnfs 4.0's limits) behind a FUSE filesystem, no root needed, mounted under $XDG_RUNTIME_DIR/kmx/nfs/mnt/NAME (or --mountpoint) and served by a background process (--foreground keeps it attached).
--link makes a symlink in your home pointing at the mount (made as you); kmx nfs umount --unlink removes it again.`;

  static override examples = [
    { description: 'Mount through kmxd at /run/media/$USER/photos, with a link in your home', command: '<%= config.bin %> nfs mount fileserver:/export/photos photos --link ~/photos' },
    { description: 'NFSv3, read-only, soft', command: '<%= config.bin %> nfs mount fileserver:/srv/data --vers 3 --ro -o soft,timeo=50' },
    { description: 'In user space, against a server on a non-standard port', command: '<%= config.bin %> nfs mount 127.0.0.1:/export --userspace --vers 3 --port 20490 --mount-port 20048' },
  ];

  static override args = {
    source: Args.string({ description: 'server:/export', required: true }),
    name: Args.string({ description: 'Name of the mount under /run/media/$USER (default: the export\'s last component).' }),
  };

  static override flags = {
    vers: Flags.string({ description: 'NFS version (kernel: 4.2 by default; user space: 3 by default, 4.x means 4.0).', options: [...NFS_VERSIONS] }),
    link: Flags.string({ description: 'Also make this symlink (inside your home) point at the mount.' }),
    ro: Flags.boolean({ description: 'Mount read-only.' }),
    port: Flags.integer({ description: 'The server\'s NFS port (default 2049).', min: 1, max: 65535 }),
    'mount-port': Flags.integer({ description: 'The server\'s mountd port for NFSv3 (default: ask the portmapper).', min: 1, max: 65535 }),
    userspace: Flags.boolean({ description: 'Mount in user space (libnfs over FUSE) without asking kmxd.', exclusive: ['kernel'] }),
    kernel: Flags.boolean({ description: 'Mount through kmxd only: fail instead of falling back to user space.' }),
    mountpoint: Flags.string({ description: 'User space only: mount here instead of $XDG_RUNTIME_DIR/kmx/nfs/mnt/NAME.' }),
    foreground: Flags.boolean({ description: 'User space only: stay in the foreground until unmounted or interrupted.' }),
    timeout: Flags.integer({ description: 'User space only: seconds an NFS call may take before it fails with EIO (default 10).', min: 1, max: 600 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NfsMount);
    const source = parseSource(args.source);
    const name = args.name ?? defaultName(source);
    usableMountName(name);
    if (!flags.userspace) {
      const version = (flags.vers ?? '4.2') as NfsVersionFlag;
      const why = await this.kernelMount(source, name, version, flags);
      if (why === undefined) return;
      if (flags.kernel) throw new KmxError(`cannot mount through kmxd: ${why}`, { hint: why.includes('kmxd is not running') ? 'start kmxd as root (kmxd --help), or drop --kernel to mount in user space' : 'drop --kernel to mount in user space' });
      this.log(`kmx nfs: ${why}; mounting in user space instead (libnfs over FUSE)`);
    }
    await this.userspaceMount(source, name, flags);
  }

  /** Undefined when mounted; otherwise why the kernel path is not available (a fallback reason). */
  private async kernelMount(source: NfsSource, name: string, version: NfsVersionFlag, flags: { ro: boolean; port?: number; 'mount-port'?: number; link?: string; option?: string[] }): Promise<string | undefined> {
    try {
      await requestKmxd({ ping: {} }, { timeoutMs: 10_000 });
    } catch (err) {
      if (err instanceof DaemonUnavailableError) return 'kmxd is not running';
      throw err;
    }
    if (!(await kernelHasNfs(version))) return `this kernel has no NFS client (no ${version === '3' ? 'nfs' : 'nfs4'} in /proc/filesystems)`;
    const { options, readOnly } = splitNfsOptions(flags.option ?? []);
    try {
      const m = await mountThroughKmxd(source, {
        name, version, readOnly: readOnly || flags.ro, port: flags.port ?? 0, mountPort: flags['mount-port'] ?? 0, options, ...(flags.link ? { link: flags.link } : {}),
      });
      this.log(`kmx nfs: ${source.server}:${source.exportPath} mounted on ${m.path} (NFSv${version}${readOnly || flags.ro ? ', read-only' : ''})${m.link ? `; ${m.link} -> ${m.path}` : ''}`);
      return undefined;
    } catch (err) {
      if (err instanceof DaemonUnavailableError) return 'kmxd is not running';
      if (err instanceof DaemonError && err.code === 'ENODEV') return 'kmxd\'s kernel has no NFS client';
      if (err instanceof DaemonError) throw new KmxError(`kmxd refused: ${err.message}`, { hint: err.hint ?? this.hintFor(err.code) });
      throw err;
    }
  }

  private hintFor(code: string): string | undefined {
    if (code === 'EEXIST') return 'kmx nfs list shows your mounts; choose another name or unmount that one';
    if (code === 'ETIMEDOUT' || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH') return 'check the server name and port';
    return undefined;
  }

  private async userspaceMount(source: NfsSource, name: string, flags: UserspaceFlags): Promise<void> {
    const version = flags.vers ?? '3';
    const protocol = version === '3' ? 3 : 4;
    const { parsed, extra } = userspaceOptionParser((flags.timeout ?? 10) * 1000);
    const fuseOptions = this.fuseOptions({ ...NFS_FUSE_DEFAULTS, ...(flags.ro ? { readOnly: true } : {}) }, flags.option, extra);
    if (parsed.ignored.length > 0) this.log(`kmx nfs: ignoring kernel-only options in user space: ${parsed.ignored.join(', ')}`);
    if (protocol === 4 && version !== '4') this.log(`kmx nfs: user space speaks NFSv4.0 (libnfs 4.0), not ${version}`);
    const created = flags.mountpoint === undefined;
    const mountpoint = created ? await defaultMountpoint(name) : await canonicalMountpoint(flags.mountpoint!);
    const link = flags.link ? resolve(flags.link.replace(/^~(?=\/|$)/, process.env.HOME ?? '~')) : '';
    const target = { source, protocol: protocol as 3 | 4, port: flags.port ?? 0, mountPort: flags['mount-port'] ?? 0, timeoutMs: parsed.timeoutMs };
    const record = { name, source: `${source.server}:${source.exportPath}`, mountpoint, createdMountpoint: created, link, version: protocol === 4 ? '4.0' : '3' };
    // What this process made, to be undone if the mount fails. Prepare runs once, where the
    // terminal is: with --daemon the serving child gets none of it (and undoes nothing).
    const made = { mountpoint: false, link: false, record: false };
    try {
      await this.serve({
        plugin: 'nfs',
        source: `${source.server}:${source.exportPath}`,
        mountpoint,
        fuseOptions,
        // Runs once, where the terminal is (before detaching): a name or mountpoint in use is
        // refused before anything is touched; then connect, so a bad server or export fails
        // right here; then make the mountpoint and the link and remember the mount.
        prepare: async () => {
          await claimMount(name, mountpoint, (line) => this.log(`kmx nfs: ${line}`));
          (await connectUserspace(target)).close();
          if (link && (await lstat(link).then(() => true, () => false))) throw new UsageError(`--link ${flags.link} already exists`, 'choose a path that does not exist yet');
          try {
            await saveMount(record);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
            throw new KmxError(`${name} is being mounted by another kmx nfs mount right now`, { hint: 'choose another name' });
          }
          made.record = true;
          if (created) {
            await makeMountpoint(mountpoint);
            made.mountpoint = true;
          }
          if (link) {
            await mkdir(resolve(link, '..'), { recursive: true });
            await symlink(mountpoint, link);
            made.link = true;
          }
        },
        filesystem: async () => {
          const status = new MountStatusReporter(mountpoint);
          const clients = await connectUserspace(target, { log: (line) => process.stderr.write(`kmx nfs: ${line}\n`), onState: (state) => status.update(statusText(state)) });
          // Shared with other users: each request goes out as its caller, as the kernel's client sends it.
          return new NfsFileSystem(clients, (line) => process.stderr.write(`kmx nfs: ${line}\n`), { perCaller: fuseOptions.allowOther === true });
        },
      }, { ...flags, daemon: !flags.foreground });
    } catch (err) {
      if (made.link && (await readlink(link).catch(() => '')) === mountpoint) await rm(link, { force: true });
      if (made.mountpoint) await removeMountpoint(mountpoint);
      if (made.record) await forgetMount(name);
      throw err;
    }
    // Served here until the mount ended (unmounted, or a signal): forget it. (A --daemon parent
    // gets here once its child serves: the mount is there, and stays remembered.)
    if (!mountAt(await readMountinfo(), mountpoint)) await forgetEnded(record);
  }
}
