import { Flags } from '@oclif/core';
import { formatTable } from '@kmx/core';
import { NamespaceCommand } from '../../lib/cli/namespace-command.js';
import { inaccessibleJson, namespaceJson, SCHEMA_VERSION, type InaccessibleJson, type NamespaceJson } from '../../lib/render/json.js';
import { LIST_HEADERS, listRows, selectNamespaces } from '../../lib/render/list.js';
import { NAMESPACE_TYPES } from '../../lib/nsfs/types.js';

export interface ListJson {
  schemaVersion: number;
  namespaces: NamespaceJson[];
  inaccessible: InaccessibleJson;
}

export default class List extends NamespaceCommand {
  static override summary = 'List namespaces like lsns, plus those lsns misses.';
  static override description = `One line per namespace: lsns's columns, plus FOUND, the routes that found it:
  proc        a process is in it (/proc/PID/ns)
  task        only a thread is in it (/proc/PID/task/TID/ns)
  fd          a process holds an fd on it (/proc/PID/fd)
  bind-mount  an nsfs bind mount keeps it (/run/netns/NAME, say)
  hierarchy   the parent of a user or PID namespace, even with no process in it
  ownership   the user namespace that owns another
A namespace without processes shows what holds it in COMMAND, in brackets.`;

  static override examples = [
    { description: 'Every namespace', command: '<%= config.bin %> ns list' },
    { description: 'Network and mount namespaces only', command: '<%= config.bin %> ns list --type net --type mnt' },
    { description: 'As JSON (the schema: docs/ns.md, or man kmx-ns-list)', command: '<%= config.bin %> ns list --json' },
  ];

  static override flags = {
    type: Flags.option({ char: 't', options: NAMESPACE_TYPES, multiple: true, description: 'Only namespaces of this type (repeatable).' })(),
  };

  async run(): Promise<ListJson> {
    const { flags } = await this.parse(List);
    const snapshot = await this.discovery().discover();
    const records = selectNamespaces(snapshot, flags.type ?? []);
    if (!this.jsonEnabled()) this.log(formatTable(LIST_HEADERS, listRows(records, snapshot)));
    this.reportInaccessible(snapshot, flags.verbose);
    return { schemaVersion: SCHEMA_VERSION, namespaces: records.map((r) => namespaceJson(r, snapshot)), inaccessible: inaccessibleJson(snapshot) };
  }
}
