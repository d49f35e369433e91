import { lstat, mkdir, readlink, rm, symlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { KmxError, MountCommand, MountStatusReporter, UsageError, canonicalMountpoint, isDaemonChild, mountAt, readMountinfo, type FuseOptions } from '@kmx/core';
import { DaemonError, DaemonUnavailableError, requestKmxd } from '@kmx/core/daemon';
import { splitNfsOptions } from '../../lib/kernel/kernel-mount.js';
import { claimMount, usableMountName } from '../../lib/mounts.js';
import { SmbClient, SmbConnection } from '../../lib/smb/client.js';
import { gatherCredentials, type SmbCredentials } from '../../lib/smb/credentials.js';
import { kernelHasCifs, mountSmbThroughKmxd } from '../../lib/smb/kernel.js';
import { SmbFileSystem } from '../../lib/smb/filesystem.js';
import type { ConnectionSetup } from '../../lib/smb/protocol.js';
import { SMB_VERSIONS, defaultShareName, parseShare, shareText, type SmbShare, type SmbVersion } from '../../lib/smb/url.js';
import { defaultMountpoint, forgetEnded, forgetMount, makeMountpoint, removeMountpoint, saveMount } from '../../lib/state.js';

/** Short attribute caching (others change the share too), large I/O. */
const SMB_FUSE_DEFAULTS: FuseOptions = { attrTimeout: 1, entryTimeout: 1, negativeTimeout: 0, maxRead: 1048576, maxWrite: 1048576, maxBackground: 32, congestionThreshold: 24 };

/** kmxd's CIFS options (see packages/core/src/daemon/smb.ts), which mean nothing to libsmbclient: a fallback to user space leaves them out, and says so. */
const KERNEL_ONLY_OPTIONS = new Set(['soft', 'hard', 'actimeo', 'acregmax', 'acdirmax', 'cache', 'rsize', 'wsize', 'echo_interval', 'nobrl', 'seal', 'serverino', 'noserverino',
  'nosharesock', 'noblocksend', 'mapchars', 'nomapchars', 'mapposix', 'nocase', 'nosymfollow']);

/** What is asked at the terminal and handed to the serving process (over its IPC channel, never its arguments). */
interface Prepared {
  user: string;
  domain: string;
  password: string;
  kerberos: boolean;
}

export default class SmbMount extends MountCommand {
  static override summary = 'Mount an SMB share (Samba, Windows): a kernel mount through kmxd, or in user space (libsmbclient over FUSE).';
  static override description = `Through kmxd (the root daemon), the kernel's CIFS client mounts //server/share at /run/media/$USER/NAME, always nosuid,nodev, every file yours (uid, gid, file_mode 0644, dir_mode 0755 set by kmxd); -o options pass kmxd's allow-list.
When the kernel has no CIFS client or kmxd is not running, kmx says so in one line and mounts in user space instead, under $XDG_RUNTIME_DIR/kmx/smb/mnt/NAME (or --mountpoint), served from a background process (--foreground keeps it attached). Every file shows as yours there too.
The password comes from --credentials FILE (mount.cifs's format: username=, password=, domain= lines; the file must be yours and mode 0600), else from the environment as mount.cifs reads it (PASSWD, PASSWD_FD, PASSWD_FILE; USER as user%password), else it is asked on the terminal. With --sec krb5 your Kerberos ticket is used instead. It is never put in arguments, records or logs.
--link makes a symlink in your home pointing at the mount; kmx smb umount --unlink removes it again.`;

  static override examples = [
    { description: 'Mount a share, asked for the password', command: '<%= config.bin %> smb mount //fileserver/photos --user alice --link ~/photos' },
    { description: 'With a credentials file and SMB 3.1.1 only', command: '<%= config.bin %> smb mount //fileserver/data data --credentials ~/.smbcredentials --vers 3.1.1' },
    { description: 'A Samba server on another port', command: '<%= config.bin %> smb mount //127.0.0.1/share --port 4445 --user bob' },
  ];

  static override args = {
    source: Args.string({ description: '//server/share, or //server/share/directory', required: true }),
    name: Args.string({ description: 'Name of the mount (default: the share\'s or directory\'s name).' }),
  };

  static override flags = {
    user: Flags.string({ description: 'The user name on the server (default: $USER, as mount.cifs).' }),
    domain: Flags.string({ description: 'The user\'s domain or workgroup.' }),
    credentials: Flags.string({ description: 'A file with username=, password= and domain= lines (yours, mode 0600).' }),
    sec: Flags.string({ description: 'Authentication: ntlmssp (a password, the default) or krb5 (your Kerberos ticket).', options: ['ntlmssp', 'krb5'] }),
    vers: Flags.string({ description: 'The only SMB version to speak (default: the best both sides have).', options: Object.keys(SMB_VERSIONS) }),
    port: Flags.integer({ description: 'The server\'s SMB port (default 445).', min: 1, max: 65535 }),
    link: Flags.string({ description: 'Also make this symlink (inside your home) point at the mount.' }),
    ro: Flags.boolean({ description: 'Mount read-only.' }),
    userspace: Flags.boolean({ description: 'Mount in user space (libsmbclient over FUSE) without asking kmxd.', exclusive: ['kernel'] }),
    kernel: Flags.boolean({ description: 'Mount through kmxd only: fail instead of falling back to user space.' }),
    mountpoint: Flags.string({ description: 'Mount here instead of $XDG_RUNTIME_DIR/kmx/smb/mnt/NAME.' }),
    foreground: Flags.boolean({ description: 'Stay in the foreground until unmounted or interrupted.' }),
    timeout: Flags.integer({ description: 'Seconds an SMB call may take before it fails with EIO (default 10).', min: 1, max: 600 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SmbMount);
    const source = parseShare(args.source);
    const name = args.name ?? defaultShareName(source);
    usableMountName(name);
    const version = flags.vers as SmbVersion | undefined;
    // Asked once, where the terminal is (a --daemon child gets them from its parent).
    let credentials: SmbCredentials | undefined;
    const ask = async (): Promise<SmbCredentials> => (credentials ??= await gatherCredentials({ user: flags.user, domain: flags.domain, credentialsFile: flags.credentials, kerberos: flags.sec === 'krb5' }));
    if (!flags.userspace && !isDaemonChild()) {
      const why = await this.kernelMount(source, name, version, flags, ask);
      if (why === undefined) return;
      if (flags.kernel) throw new KmxError(`cannot mount through kmxd: ${why}`, { hint: why.includes('kmxd is not running') ? 'start kmxd as root (kmxd --help), or drop --kernel to mount in user space' : 'drop --kernel to mount in user space' });
      this.log(`kmx smb: ${why}; mounting in user space instead (libsmbclient over FUSE)`);
    }
    const ignored: string[] = [];
    const kernelOnly = (option: string): boolean => KERNEL_ONLY_OPTIONS.has(option) && ignored.push(option) > 0;
    const fuseOptions = this.fuseOptions({ ...SMB_FUSE_DEFAULTS, ...(flags.ro ? { readOnly: true } : {}) }, flags.option, kernelOnly);
    if (ignored.length > 0) this.log(`kmx smb: ignoring kernel-only options in user space: ${ignored.join(', ')}`);
    const created = flags.mountpoint === undefined;
    const mountpoint = created ? await defaultMountpoint(name, 'smb') : await canonicalMountpoint(flags.mountpoint!);
    const link = flags.link ? resolve(flags.link.replace(/^~(?=\/|$)/, process.env.HOME ?? '~')) : '';
    const record = { name, source: shareText(source), mountpoint, createdMountpoint: created, link, version: version ?? 'any' };
    const setupOf = (p: Prepared): ConnectionSetup => ({
      server: source.server, port: flags.port ?? 445, share: source.share, path: source.path, user: p.user, domain: p.domain,
      password: new Uint8Array(Buffer.from(p.password, 'base64')), kerberos: p.kerberos,
      minProtocol: version ? SMB_VERSIONS[version] : '', maxProtocol: version ? SMB_VERSIONS[version] : '', timeoutMs: (flags.timeout ?? 10) * 1000,
    });
    const made = { mountpoint: false, link: false, record: false };
    try {
      await this.serve<Prepared>({
        plugin: 'smb',
        source: shareText(source),
        mountpoint,
        fuseOptions,
        // At the terminal, before detaching: refuse a name in use, ask for the password, connect
        // once (a wrong password or a dead server fails here), then make the mountpoint and link.
        prepare: async () => {
          await claimMount(name, mountpoint, (line) => this.log(`kmx smb: ${line}`), 'smb');
          const given = await ask();
          const prepared: Prepared = { user: given.user, domain: given.domain, password: given.password.toString('base64'), kerberos: given.kerberos };
          given.password.fill(0);
          await (await SmbConnection.open(setupOf(prepared))).close();
          if (link && (await lstat(link).then(() => true, () => false))) throw new UsageError(`--link ${flags.link} already exists`, 'choose a path that does not exist yet');
          try {
            await saveMount(record, 'smb');
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
            throw new KmxError(`${name} is being mounted by another kmx smb mount right now`, { hint: 'choose another name' });
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
          return prepared;
        },
        filesystem: async (prepared) => {
          const client = await SmbClient.connect(setupOf(prepared));
          const status = new MountStatusReporter(mountpoint);
          status.update('connected');
          return new SmbFileSystem(client, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, onStatus: (text) => status.update(text) });
        },
      }, { ...flags, daemon: !flags.foreground });
    } catch (err) {
      if (made.link && (await readlink(link).catch(() => '')) === mountpoint) await rm(link, { force: true });
      if (made.mountpoint) await removeMountpoint(mountpoint);
      if (made.record) await forgetMount(name, 'smb');
      throw err;
    }
    if (!mountAt(await readMountinfo(), mountpoint)) await forgetEnded(record, 'smb');
  }

  /** Undefined when mounted; otherwise why the kernel path is not available (a fallback reason). */
  private async kernelMount(source: SmbShare, name: string, version: SmbVersion | undefined, flags: { ro: boolean; port?: number | undefined; link?: string | undefined; option?: string[] | undefined }, ask: () => Promise<SmbCredentials>): Promise<string | undefined> {
    try {
      await requestKmxd({ ping: {} }, { timeoutMs: 10_000 });
    } catch (err) {
      if (err instanceof DaemonUnavailableError) return 'kmxd is not running';
      throw err;
    }
    if (!(await kernelHasCifs())) return 'this kernel has no CIFS client (no cifs in /proc/filesystems)';
    const { options, readOnly } = splitNfsOptions(flags.option ?? []);
    const credentials = await ask();
    try {
      const m = await mountSmbThroughKmxd(source, credentials, { name, version, readOnly: readOnly || flags.ro, port: flags.port ?? 0, options, link: flags.link });
      this.log(`kmx smb: ${shareText(source)} mounted on ${m.path}${version ? ` (SMB ${version})` : ''}${readOnly || flags.ro ? ', read-only' : ''}${m.link ? `; ${m.link} -> ${m.path}` : ''}`);
      return undefined;
    } catch (err) {
      if (err instanceof DaemonUnavailableError) return 'kmxd is not running';
      if (err instanceof DaemonError && err.code === 'ENODEV') return 'kmxd\'s kernel has no CIFS client';
      if (err instanceof DaemonError) throw new KmxError(`kmxd refused: ${err.message}`, { hint: err.hint ?? (err.code === 'EEXIST' ? 'kmx smb list shows your mounts; choose another name or unmount that one' : err.code === 'EACCES' ? 'check the user name, password and --domain (or the server in kmxd.conf)' : undefined) });
      throw err;
    }
  }
}
