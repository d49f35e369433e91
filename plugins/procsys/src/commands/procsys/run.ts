import { Flags } from '@oclif/core';
import { KmxCommand, Tokens, canonicalMountpoint, type MountHelper } from '@kmx/core';
import { checkProcsysMount, runOverView, withTemporaryView } from '../../lib/run/run-over-view.js';
import { buildView } from '../../lib/view/build-view.js';
import { cgroupViewFlag, viewFlags } from '../../lib/view/options.js';

export default class Run extends KmxCommand {
  static override summary = 'Run a command with a procsys view over /proc (ps, free, netstat, route … see it).';
  static override description = `The command runs in a private mount namespace where the view covers /proc; nothing changes for other processes. With --mount it uses a running kmx procsys mount; otherwise it mounts a view for the command's lifetime: this host's alone, or merged with --peer, --cluster or --srv (the flags of kmx procsys mount). This host's view is cgroup-aware, as lxcfs: meminfo, swaps, cpuinfo, stat, uptime, loadavg and diskstats tell each reader its own cgroup's limits and use (--no-cgroup-view: the host's).
Exits with the command's exit code. ifconfig and netstat -i also ask the kernel by ioctl, which knows only this host's interfaces: in a merged view they show this host's interfaces until they reach another host's one, then fail with "Device not found" (docs/procsys.md).`;

  static override examples = [
    { description: 'ps through this host\'s mirror', command: '<%= config.bin %> procsys run -- ps aux' },
    { description: 'free inside a cgroup shows the cgroup\'s limit; --no-cgroup-view shows the host\'s', command: '<%= config.bin %> procsys run -- free -m' },
    { description: 'Through an existing mount', command: '<%= config.bin %> procsys run --mount /tmp/proc -- netstat -tuln' },
    { description: 'Memory of three hosts together', command: '<%= config.bin %> procsys run --certs ~/kmx-certs --peer db=10.0.0.3:7447 --peer cache=10.0.0.4:7447 -- free -h' },
  ];

  static override strict = false;

  static override flags = {
    ...viewFlags,
    'cgroup-view': cgroupViewFlag(true),
    mount: Flags.string({ description: 'Use this existing kmx procsys mount instead of mounting one.', exclusive: ['peer', 'cluster', 'srv'] }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Run);
    const [command, ...args] = argv as string[];
    if (!command) this.error('no command given: kmx procsys run [FLAGS] -- COMMAND [ARGS]', { exit: 2 });
    const helper = this.container.resolve<MountHelper>(Tokens.MountHelper);
    let code: number;
    if (flags.mount) {
      const view = await canonicalMountpoint(flags.mount);
      await checkProcsysMount(view);
      code = await runOverView(helper, view, command, args);
    } else {
      const view = await buildView(flags, (line) => process.stderr.write(`kmx procsys: ${line}\n`));
      try {
        code = await withTemporaryView(view.filesystem, view.fuseOptions, (mountpoint) => runOverView(helper, mountpoint, command, args));
      } finally {
        view.close();
      }
    }
    this.exit(code);
  }
}
