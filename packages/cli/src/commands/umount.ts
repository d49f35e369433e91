import { Args, Flags } from '@oclif/core';
import { KmxCommand, unmountKmx } from '@kmx/core';

export default class Umount extends KmxCommand {
  static override summary = 'Unmount a kmx mount, including a stale one whose server died.';
  static override description = 'Only kmx mounts (see kmx mounts) are touched. The serving process notices and exits by itself.';
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
