import { Args } from '@oclif/core';
import { KmxError, MountCommand, PassthroughFileSystem, canonicalMountpoint, existingDirectory, isWithin } from '@kmx/core';

export default class Passthrough extends MountCommand {
  static override summary = 'Mirror a directory through FUSE: every operation passed to the backing directory.';
  static override description = `The reference for FUSE overhead (compare it with the directory itself) and the base kmx enc builds on.
Runs in the foreground until interrupted or unmounted; --daemon detaches once the mount answers.
Served by root with -o allow_other,default_permissions, other users get the permissions and ownership they would get on the directory itself.`;

  static override examples = [
    { description: 'Mirror ~/src on /tmp/view until Ctrl-C', command: '<%= config.bin %> passthrough ~/src /tmp/view' },
    { description: 'Detach, then unmount later', command: '<%= config.bin %> passthrough --daemon ~/src /tmp/view && <%= config.bin %> umount /tmp/view' },
    { description: 'Share with other users, with the kernel checking permissions', command: '<%= config.bin %> passthrough -o allow_other,default_permissions /srv/data /mnt/data' },
  ];

  static override args = {
    source: Args.string({ description: 'Directory to mirror.', required: true }),
    mountpoint: Args.string({ description: 'Existing directory to mount on.', required: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Passthrough);
    // No attribute caching by default: the backing directory can change behind the mount's
    // back (another process, an ACL set through an xattr), and the view must not lag.
    const fuseOptions = this.fuseOptions({ useIno: true, attrTimeout: 0, entryTimeout: 0, negativeTimeout: 0 }, flags.option);
    const source = await existingDirectory(args.source, 'source directory');
    const mountpoint = await canonicalMountpoint(args.mountpoint);
    // The server reaches the source by path: inside its own mount it would wait on itself forever.
    if (isWithin(mountpoint, source) || isWithin(source, mountpoint)) {
      throw new KmxError(`the mountpoint ${mountpoint} and the source ${source} must not contain each other`, { hint: 'mount outside the source directory' });
    }
    await this.serve({
      plugin: 'passthrough',
      source,
      mountpoint,
      fuseOptions,
      filesystem: () => new PassthroughFileSystem(source),
      eagerCompilation: true,
    }, flags);
  }
}
