import { Args, Flags } from '@oclif/core';
import { MountCommand, MountStatusReporter, canonicalMountpoint } from '@kmx/core';
import { defaultSftpOptions, takeSftpOption, SFTP_OPTION_NAMES } from '../../lib/mount/options.js';
import { statusText } from '../../lib/mount/status.js';
import { buildFilesystem, checkIdentityFiles, planMount, prepareLogin, sourceOf } from '../../lib/mount/plan.js';
import type { SshSecrets } from '../../lib/ssh/connect.js';

export default class SftpMount extends MountCommand {
  static override summary = 'Mount a remote directory over SFTP, through SSH or through any command\'s stdin/stdout.';
  static override description = `Over SSH (the default), as ssh resolves it (~/.ssh/config, /etc/ssh/ssh_config, ProxyJump, ProxyCommand): keys from ssh-agent and -i, host keys from known_hosts and its CAs (an unknown one is asked about at a terminal; --accept-new-host-key records it; a changed one is refused), and a password prompt last. sshfs's -p, -C, -F and -o ssh options work as in sshfs.
With --via CMD, SFTP is spoken directly over CMD's stdin/stdout, no SSH: the Qubes qrexec model ({host} in CMD becomes the host), or sftp-server / kmx sftp serve run by any transport.
When the connection drops, the mount reconnects with backoff. Operations that are safe to repeat (stat, readdir, readlink, read, open) are sent again; changes in flight (write, mkdir, unlink, rename, setattr, create) fail with EIO, since the server may or may not have made them; written data that was not yet acknowledged makes the file's close/fsync fail with EIO. Nothing waits longer than -o timeout=S (default 15 s): then EIO. kmx mounts shows the connection state.
Writes are write-behind (errors surface at the next write, flush/close or fsync); attributes and listings are cached for cache_timeout seconds (default 20), as sshfs does.
kmx sftp -o options: ${SFTP_OPTION_NAMES.join(', ')}; and the FUSE ones (ro, allow_other, default_permissions, attr_timeout=S, …).`;

  static override examples = [
    { description: 'Mount a directory of a host from ~/.ssh/config until Ctrl-C', command: '<%= config.bin %> sftp mount myserver:/srv/photos ~/photos' },
    { description: 'With a key and a port, detached', command: '<%= config.bin %> sftp mount --daemon -i ~/.ssh/id_work alice@files.example:2222:/home/alice ~/work' },
    { description: 'First contact with a host: record its key', command: '<%= config.bin %> sftp mount --accept-new-host-key alice@newhost: ~/newhost' },
    { description: 'Through a jump host, on port 2222, compressed (as sshfs)', command: '<%= config.bin %> sftp mount -o ProxyJump=bastion -p 2222 -C inner:/srv ~/inner' },
    { description: 'Raw SFTP over a qrexec call to another qube', command: '<%= config.bin %> sftp mount --via \'qrexec-client-vm {host} qubes.MountReadWrite\' work:/home/user ~/work' },
    { description: 'Raw SFTP over a local sftp-server (no SSH at all)', command: '<%= config.bin %> sftp mount --via /usr/lib/openssh/sftp-server localhost:/var/log /mnt/logs' },
    { description: 'Read-only, owners shown as you, shorter timeout', command: '<%= config.bin %> sftp mount --read-only -o idmap=user,timeout=5 host:/data /mnt/data' },
  ];

  static override args = {
    remote: Args.string({ description: 'Remote directory: [user@]host[:port]:[path] (an empty path, or a host alone, is the login directory).', required: true }),
    mountpoint: Args.string({ description: 'Existing directory to mount on.', required: true }),
  };

  static override flags = {
    via: Flags.string({ description: 'Speak SFTP over this command\'s stdin/stdout instead of SSH; {host} is replaced by the host.' }),
    identity: Flags.string({ char: 'i', multiple: true, multipleNonGreedy: true, description: 'Private key file to log in with (may be repeated).' }),
    port: Flags.integer({ char: 'p', min: 1, max: 65535, description: 'The SSH server\'s port (as ssh -p and sshfs -p; a port in the target wins).' }),
    compress: Flags.boolean({ char: 'C', description: 'Compress the connection (as ssh -C and sshfs -C).' }),
    'ssh-config': Flags.string({ char: 'F', description: 'ssh\'s configuration file, instead of ~/.ssh/config and /etc/ssh/ssh_config (as ssh -F and sshfs -F).' }),
    'accept-new-host-key': Flags.boolean({ description: 'Record the host key of a host not yet in known_hosts (a changed key is still refused).' }),
    'read-only': Flags.boolean({ description: 'Mount read-only.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SftpMount);
    const options = defaultSftpOptions();
    const fuseOptions = this.fuseOptions({
      attrTimeout: 1, entryTimeout: 1, maxBackground: 64, congestionThreshold: 48,
    }, flags.option, (name, value) => takeSftpOption(options, name, value));
    if (flags['read-only']) fuseOptions.readOnly = true;
    if (flags.port !== undefined) options.port = flags.port;
    if (flags.compress) options.compression = true;
    if (flags['ssh-config'] !== undefined) options.sshConfigFile = flags['ssh-config'];
    checkIdentityFiles(flags.identity ?? []);
    const plan = await planMount({ target: args.remote, via: flags.via, identityFiles: flags.identity ?? [], acceptNewHostKey: flags['accept-new-host-key'], options });
    const mountpoint = await canonicalMountpoint(args.mountpoint);
    const log = (line: string): void => {
      process.stderr.write(`kmx sftp: ${line}\n`);
    };
    await this.serve<SshSecrets>({
      plugin: 'sftp',
      source: sourceOf(plan),
      mountpoint,
      fuseOptions,
      prepare: () => prepareLogin(plan, log),
      filesystem: async (secrets) => {
        const status = new MountStatusReporter(mountpoint);
        const filesystem = await buildFilesystem(plan, secrets ?? {}, fuseOptions.readOnly === true, log, (state) => status.update(statusText(state)));
        // Both ends kmx: st_ino is the server's inode number (read when the engine mounts, after this).
        if (filesystem.inodeNumbers) fuseOptions.useIno = true;
        return filesystem;
      },
      // Every byte also passes through ssh2's encryption here and sshd on the other side.
      singleThreadedGc: true,
      // Its buffers churn: a new process's first transfer paid ~20,000 first-touch page faults.
      hugePageMalloc: true,
    }, flags);
  }
}
