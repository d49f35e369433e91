import { Args } from '@oclif/core';
import { NamespaceCommand } from '../../lib/cli/namespace-command.js';
import { inspect, parseTarget } from '../../lib/inspect.js';
import { showJson, showText, type ShowJson } from '../../lib/render/show.js';

export default class Show extends NamespaceCommand {
  static override summary = 'Show the relations of one namespace, or of every namespace of a process.';
  static override description = `Given a path (/proc/PID/ns/TYPE, /proc/PID/fd/N, a bind mount such as /run/netns/NAME): that namespace's id, owner, parent, ancestors, children, the namespaces it owns (for a user namespace), its processes and what else holds it.
Given a pid: one line per namespace of that process, and pid_for_children / time_for_children where they differ.`;

  static override examples = [
    { description: 'The namespaces of process 1234', command: '<%= config.bin %> ns show 1234' },
    { description: 'One namespace, by its /proc link', command: '<%= config.bin %> ns show /proc/self/ns/user' },
    { description: 'A network namespace made by ip netns', command: '<%= config.bin %> ns show /run/netns/blue --json' },
  ];

  static override args = {
    target: Args.string({ description: 'A namespace file, or a pid.', required: true }),
  };

  async run(): Promise<ShowJson> {
    const { args, flags } = await this.parse(Show);
    const inspection = await inspect(parseTarget(args.target), this.discovery());
    if (!this.jsonEnabled()) this.log(showText(inspection));
    this.reportInaccessible(inspection.snapshot, flags.verbose);
    return showJson(inspection);
  }
}
