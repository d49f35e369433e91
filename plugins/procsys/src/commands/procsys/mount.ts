import { Args, Flags } from '@oclif/core';
import { MountCommand, canonicalMountpoint } from '@kmx/core';
import { serveAgent } from '../../lib/rpc/serve-agent.js';
import { buildView } from '../../lib/view/build-view.js';
import { agentFlags, cgroupViewFlag, isMerged, planView, viewFlags, viewFuseOptions } from '../../lib/view/options.js';

export default class Mount extends MountCommand {
  static override summary = 'Mount a mirror of /proc: this host\'s, or several hosts\' merged.';
  static override description = `Alone, the mount mirrors this host's /proc: names, modes, owners, link targets and contents as /proc gives them, with "self", "thread-self" and "net" resolved for the process that reads them. Read-only unless --writable.

With --peer, --cluster or --srv (DNS SRV records), it merges hosts that run "kmx procsys serve": /hosts/NAME/ holds each host's whole /proc; loadavg, uptime, meminfo, stat, cpuinfo and net/{dev,route,arp,tcp,udp} are merged; every host's processes appear as /PID, host number k (its place in the list, this host first unless listed) owning pids k*4194304 + pid; /status shows which hosts answer. A host that is down or slow never holds up a read: reads wait at most --timeout, and the view answers with the hosts that answered.

--serve also serves this host to the others (peer-to-peer: every node mounts and serves). Runs in the foreground until interrupted or unmounted; --daemon detaches once the mount answers.`;

  static override examples = [
    { description: 'Mirror this host\'s /proc on /tmp/proc until Ctrl-C', command: '<%= config.bin %> procsys mount /tmp/proc' },
    { description: 'Merge two agents into this host\'s view, detached', command: '<%= config.bin %> procsys mount --daemon --certs ~/kmx-certs --peer web=10.0.0.2:7447 --peer db=10.0.0.3:7447 /tmp/proc' },
    { description: 'Peer-to-peer: each node serves and mounts the same cluster file', command: '<%= config.bin %> procsys mount --cluster cluster.json --name web --serve 0.0.0.0:7447 --allow-down /tmp/proc' },
  ];

  static override args = {
    mountpoint: Args.string({ description: 'Existing directory to mount on.', required: true }),
  };

  static override flags = {
    ...viewFlags,
    'cgroup-view': cgroupViewFlag(false),
    serve: Flags.string({ description: 'Also serve this host\'s /proc to the other nodes, on HOST:PORT (as kmx procsys serve; --read-as and --writable-keys apply to it, --writable only to this mount).' }),
    ...agentFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Mount);
    const mountpoint = await canonicalMountpoint(args.mountpoint);
    const log = (line: string): void => {
      process.stderr.write(`kmx procsys: ${line}\n`);
    };
    const merged = isMerged(flags);
    await this.serve({
      plugin: 'procsys',
      source: merged ? 'proc (merged)' : 'proc',
      mountpoint,
      fuseOptions: this.fuseOptions(viewFuseOptions(flags.writable, merged), flags.option),
      filesystem: async () => {
        const agent = flags.serve ? await serveAgent(flags.serve, flags, log, planView(flags).certsFromCluster) : undefined;
        try {
          const view = await buildView(flags, log);
          if (agent) view.mirror.onDestroy.push(() => agent.stop());
          return view.filesystem;
        } catch (err) {
          await agent?.stop();
          throw err;
        }
      },
    }, flags);
  }
}
