import { lstat, mkdir, readlink, rm, symlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { KmxError, MountCommand, UsageError, canonicalMountpoint, mountAt, readMountinfo, type FuseOptions } from '@kmx/core';
import { checkMountName } from '@kmx/core/daemon';
import { claimMount } from '../../lib/mounts.js';
import { SmbClient, SmbConnection } from '../../lib/smb/client.js';
import { gatherCredentials } from '../../lib/smb/credentials.js';
import { SmbFileSystem } from '../../lib/smb/filesystem.js';
import type { ConnectionSetup } from '../../lib/smb/protocol.js';
import { SMB_VERSIONS, defaultShareName, parseShare, shareText, type SmbVersion } from '../../lib/smb/url.js';
import { defaultMountpoint, forgetEnded, forgetMount, makeMountpoint, removeMountpoint, saveMount } from '../../lib/state.js';

/** Short attribute caching (others change the share too), large I/O. */
const SMB_FUSE_DEFAULTS: FuseOptions = { attrTimeout: 1, entryTimeout: 1, negativeTimeout: 0, maxRead: 1048576, maxWrite: 1048576, maxBackground: 32, congestionThreshold: 24 };

/** What is asked at the terminal and handed to the serving process (over its IPC channel, never its arguments). */
interface Prepared {
  user: string;
  domain: string;
  password: string;
  kerberos: boolean;
}

export default class SmbMount extends MountCommand {
  static override summary = 'Mount an SMB share (Samba, Windows) in user space: libsmbclient over FUSE, no root needed.';
  static override description = `kmx mounts //server/share under $XDG_RUNTIME_DIR/kmx/smb/mnt/NAME (or --mountpoint) and serves it from a background process (--foreground keeps it attached). Every file shows as yours.
The password comes from --credentials FILE (mount.cifs's format: username=, password=, domain= lines; the file must be yours and mode 0600), else from PASSWD in the environment (and USER, as mount.cifs reads them), else it is asked on the terminal. With --sec krb5 your Kerberos ticket is used instead. It is never put in arguments, records or logs.
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
    userspace: Flags.boolean({ description: 'Mount in user space (the only way kmx smb mounts so far).' }),
    mountpoint: Flags.string({ description: 'Mount here instead of $XDG_RUNTIME_DIR/kmx/smb/mnt/NAME.' }),
    foreground: Flags.boolean({ description: 'Stay in the foreground until unmounted or interrupted.' }),
    timeout: Flags.integer({ description: 'Seconds an SMB call may take before it fails with EIO (default 10).', min: 1, max: 600 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SmbMount);
    const source = parseShare(args.source);
    const name = args.name ?? defaultShareName(source);
    try {
      checkMountName(name);
    } catch (err) {
      throw new UsageError(`bad mount name: ${err instanceof Error ? err.message.replace(/^name: [^:]+: /, '') : String(err)}`, 'a name is one path component of visible characters: no spaces, no control or format characters, no "," or "\\"');
    }
    const version = flags.vers as SmbVersion | undefined;
    const fuseOptions = this.fuseOptions({ ...SMB_FUSE_DEFAULTS, ...(flags.ro ? { readOnly: true } : {}) }, flags.option);
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
          const credentials = await gatherCredentials({ user: flags.user, domain: flags.domain, credentialsFile: flags.credentials, kerberos: flags.sec === 'krb5' });
          const prepared: Prepared = { user: credentials.user, domain: credentials.domain, password: credentials.password.toString('base64'), kerberos: credentials.kerberos };
          credentials.password.fill(0);
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
          return new SmbFileSystem(client, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
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
}
