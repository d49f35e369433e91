import { Flags } from '@oclif/core';
import { NamespaceCommand } from '../../lib/cli/namespace-command.js';
import { describe } from '../../lib/render/describe.js';
import { inaccessibleJson, SCHEMA_VERSION, type InaccessibleJson } from '../../lib/render/json.js';
import { buildTree, drawTree, treeJson, type TreeNodeJson } from '../../lib/render/tree.js';
import { NAMESPACE_TYPES, type NamespaceType } from '../../lib/nsfs/types.js';

export interface TreeJson {
  schemaVersion: number;
  type: NamespaceType;
  roots: TreeNodeJson[];
  inaccessible: InaccessibleJson;
}

export default class Tree extends NamespaceCommand {
  static override summary = 'Draw the user or PID namespace hierarchy, or any type under its owning user namespaces.';
  static override description = `--type user (the default) is lsuserns: every user namespace under its parent, with its owner uid, including intermediate ones that no process is in.
--type pid is lspidns: PID namespaces under their parents, each naming its owning user namespace.
Any other type is drawn inside the user namespace tree, each namespace under the user namespace that owns it.
Each line names the first topmost process and how many processes are in the namespace, or what keeps it alive without one (a bind mount, an fd, a thread).`;

  static override examples = [
    { description: 'User namespaces (lsuserns)', command: '<%= config.bin %> ns tree' },
    { description: 'PID namespaces with their owners (lspidns)', command: '<%= config.bin %> ns tree --type pid' },
    { description: 'Network namespaces under the user namespaces that own them', command: '<%= config.bin %> ns tree --type net' },
    { description: 'The same as nested JSON', command: '<%= config.bin %> ns tree --type net --json' },
  ];

  static override flags = {
    type: Flags.option({ char: 't', options: NAMESPACE_TYPES, default: 'user' as const, description: 'Namespace type to draw.' })(),
  };

  async run(): Promise<TreeJson> {
    const { flags } = await this.parse(Tree);
    const snapshot = await this.discovery().discover();
    const roots = buildTree(snapshot, flags.type);
    if (!this.jsonEnabled()) this.log(drawTree(roots, (r) => describe(r, snapshot)).join('\n'));
    this.reportInaccessible(snapshot, flags.verbose);
    return { schemaVersion: SCHEMA_VERSION, type: flags.type, roots: treeJson(roots, snapshot), inaccessible: inaccessibleJson(snapshot) };
  }
}
