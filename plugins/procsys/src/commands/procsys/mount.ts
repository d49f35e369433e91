import { Args, Flags } from '@oclif/core';
import { MountCommand, canonicalMountpoint } from '@kmx/core';
import { ProcMirror } from '../../lib/view/mirror.js';
import { LocalProc } from '../../lib/proc/local-proc.js';
import { Callers } from '../../lib/view/callers.js';

export default class Mount extends MountCommand {
  static override summary = 'Mount a mirror of /proc.';
  static override description = 'A FUSE mirror of /proc.';
  static override examples = [
    { description: 'Mirror this host\'s /proc on /tmp/proc until Ctrl-C', command: '<%= config.bin %> procsys mount /tmp/proc' },
  ];

  static override args = {
    mountpoint: Args.string({ description: 'Existing directory to mount on.', required: true }),
  };

  static override flags = {
    writable: Flags.boolean({ description: 'Pass writes through (to /proc/sys, say); by default the mount is read-only.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Mount);
    const mountpoint = await canonicalMountpoint(args.mountpoint);
    const fuseOptions = this.fuseOptions({ directIo: true, useIno: true, defaultPermissions: true, readOnly: !flags.writable, attrTimeout: 1, entryTimeout: 1, negativeTimeout: 0 }, flags.option);
    await this.serve({
      plugin: 'procsys', source: 'proc', mountpoint, fuseOptions,
      filesystem: () => new ProcMirror(new LocalProc(), new Callers(), { writable: flags.writable }),
    }, flags);
  }
}
