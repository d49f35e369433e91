import { Args, Flags } from '@oclif/core';
import { KmxCommand, unmountKmx } from '@kmx/core';

export default class Umount extends KmxCommand {
  static override summary = 'Unmount a kmx mount, including a stale one whose server died.';
  static override description = 'Only kmx mounts (see kmx mounts) are touched. The serving process exits; if a copy of the mount in another mount namespace (made by unshare -m or ip netns exec while it was mounted) keeps it serving, it is told to stop, which cuts that copy off too. --lazy leaves the server running for those still using the mount.';
  static override examples = ['<%= config.bin %> umount /tmp/view', '<%= config.bin %> umount --lazy /tmp/view'];

  static override args = {
    mountpoint: Args.string({ description: 'Where the kmx filesystem is mounted.', required: true }),
  };

  static override flags = {
    lazy: Flags.boolean({ char: 'l', description: 'Detach now even if busy; the mount goes once no one uses it.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Umount);
    await unmountKmx(args.mountpoint, { lazy: flags.lazy });
  }
}
