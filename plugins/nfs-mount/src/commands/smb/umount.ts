import { Args, Flags } from '@oclif/core';
import { KmxCommand, KmxError } from '@kmx/core';
import { DaemonError } from '@kmx/core/daemon';
import { unmountNfs } from '../../lib/mounts.js';

export default class SmbUmount extends KmxCommand {
  static override summary = 'Unmount one of your SMB mounts, by name, mountpoint or link.';
  static override description = '--unlink also removes the symlink made with --link, and only if it still points at that mount.';

  static override examples = [
    { description: 'Unmount by name and remove its link', command: '<%= config.bin %> smb umount photos --unlink' },
  ];

  static override args = {
    target: Args.string({ description: 'The mount\'s name, mountpoint or link.', required: true }),
  };

  static override flags = {
    unlink: Flags.boolean({ description: 'Also remove the symlink made with the mount (--link).' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SmbUmount);
    try {
      const { row, unlinked } = await unmountNfs(args.target, flags.unlink, 'smb');
      this.log(`kmx smb: unmounted ${row.mountpoint}${unlinked ? `; removed ${row.link}` : flags.unlink && row.link ? `; left ${row.link} (it no longer points at the mount)` : ''}`);
    } catch (err) {
      if (err instanceof DaemonError) throw new KmxError(`kmxd refused: ${err.message}`, { hint: err.hint });
      throw err;
    }
  }
}
