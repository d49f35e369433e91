import { Args, Flags } from '@oclif/core';
import { KmxCommand, Tokens, canonicalMountpoint, type MountHelper } from '@kmx/core';
import { checkProcsysMount, runOverView, withTemporaryView } from '../../lib/run/run-over-view.js';
import { ProcMirror } from '../../lib/view/mirror.js';

export default class Run extends KmxCommand {
  static override summary = 'Run a command with a procsys view over /proc.';
  static override strict = false;
  static override args = {
    command: Args.string({ description: 'The command to run, after --.', required: true }),
  };

  static override flags = {
    mount: Flags.string({ description: 'An existing kmx procsys mount to use.' }),
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Run);
    const [command, ...rest] = argv as string[];
    const helper = this.container.resolve<MountHelper>(Tokens.MountHelper);
    let code: number;
    if (flags.mount) {
      const view = await canonicalMountpoint(flags.mount);
      await checkProcsysMount(view);
      code = await runOverView(helper, view, command ?? args.command, rest);
    } else {
      code = await withTemporaryView(new ProcMirror(), { directIo: true, useIno: true, defaultPermissions: true, readOnly: true, attrTimeout: 1, entryTimeout: 1 },
        (view) => runOverView(helper, view, command ?? args.command, rest));
    }
    this.exit(code);
  }
}
