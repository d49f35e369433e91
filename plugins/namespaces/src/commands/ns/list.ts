import { existsSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { SysError, UsageError } from '@kmx/core';
import { NamespaceCommand } from '../../lib/cli/namespace-command.js';
import type { NamespaceSnapshot } from '../../lib/discovery/model.js';
import { inaccessibleJson, namespaceJson, SCHEMA_VERSION, type InaccessibleJson, type NamespaceJson } from '../../lib/render/json.js';
import { COLUMN_HELP, COLUMNS, LSNS_COLUMNS, defaultColumns, listCells, parseColumns, selectNamespaces, tableColumns } from '../../lib/render/list.js';
import { formatLsnsTable } from '../../lib/render/lsns-table.js';
import { NAMESPACE_TYPES } from '../../lib/nsfs/types.js';

export interface ListJson {
  schemaVersion: number;
  namespaces: NamespaceJson[];
  inaccessible: InaccessibleJson;
}

const columnList = COLUMNS.map((c) => `  ${c.padEnd(8)}${COLUMN_HELP[c]}`).join('\n');

export default class List extends NamespaceCommand {
  static override summary = 'List namespaces like lsns, plus those lsns misses.';
  static override description = `One line per namespace, with lsns's flags and columns, plus FOUND, the routes that found it:
  proc        a process is in it (/proc/PID/ns)
  task        only a thread is in it (/proc/PID/task/TID/ns)
  fd          a process holds an fd on it (/proc/PID/fd)
  bind-mount  an nsfs bind mount keeps it (/run/netns/NAME, say)
  hierarchy   the parent of a user or PID namespace, even with no process in it
  ownership   the user namespace that owns another
A namespace without processes shows what holds it in COMMAND, in brackets.

Columns (-o, case does not matter; -o +COL adds to the defaults):
${columnList}

--json keeps kmx's schema (docs/ns.md) and gives every namespace lsns -J's keys too (path, ppid,
command, uid, user, netnsid, nsfs, pns, ons), whatever -o says.`;

  static override examples = [
    { description: 'Every namespace', command: '<%= config.bin %> ns list' },
    { description: 'Network and mount namespaces only', command: '<%= config.bin %> ns list --type net --type mnt' },
    { description: 'The namespaces of one process, some columns, no header, raw (as lsns -rn)', command: '<%= config.bin %> ns list -p 1234 -rn -o NS,TYPE,PATH' },
    { description: 'As JSON (the schema: docs/ns.md, or man kmx-ns-list)', command: '<%= config.bin %> ns list --json' },
  ];

  static override flags = {
    type: Flags.option({ char: 't', options: NAMESPACE_TYPES, multiple: true, description: 'Only namespaces of this type (repeatable).' })(),
    task: Flags.string({ char: 'p', aliases: ['pid'], description: 'Only the namespaces process PID is in (lsns --task).', helpValue: 'PID' }),
    output: Flags.string({ char: 'o', description: `Columns to show, comma-separated (${COLUMNS.join(', ')}).`, helpValue: 'COLUMNS', exclusive: ['output-all'] }),
    'output-all': Flags.boolean({ description: `Every lsns column (${LSNS_COLUMNS.length}) and kmx's FOUND and ID.` }),
    noheadings: Flags.boolean({ char: 'n', description: 'No header line.' }),
    raw: Flags.boolean({ char: 'r', description: 'Columns separated by one space, unaligned; blanks, backslashes and non-ASCII bytes escaped as \\xHH.' }),
    list: Flags.boolean({ char: 'l', description: 'The list format: what kmx ns list always prints (for lsns users; lsns -l undoes its tree formats).' }),
    notruncate: Flags.boolean({ char: 'u', description: 'Never cut COMMAND to the terminal\'s width.' }),
    nowrap: Flags.boolean({ char: 'W', description: 'One line per namespace: several NSFS mountpoints joined by commas.' }),
  };

  /** lsns's spellings: -J, and its letters bundled as getopt allows (-rn, -Jp 1, -tnet). */
  static override peerSpellings = { '-J': '--json' };
  static override peerShortFlags = { booleans: 'JlnruW', withValue: 'opt' };

  async run(): Promise<ListJson> {
    const { flags } = await this.parse(List);
    const types = flags.type ?? [];
    if (flags.raw && this.jsonEnabled()) throw new UsageError('--raw and --json are mutually exclusive', 'use one of them, as with lsns -r and -J');
    const columns = flags['output-all'] ? [...COLUMNS] : flags.output === undefined ? defaultColumns(types) : parseColumns(flags.output, defaultColumns(types));
    const pid = flags.task === undefined ? undefined : parsePid(flags.task);
    if (pid !== undefined && !existsSync(`/proc/${pid}`)) throw noSuchProcess(pid);

    const snapshot = await this.discovery().discover();
    if (pid !== undefined) checkListed(snapshot, pid);
    const records = selectNamespaces(snapshot, types, pid);
    if (!this.jsonEnabled()) {
      const options = {
        raw: flags.raw, noHeadings: flags.noheadings, noWrap: flags.nowrap, noTruncate: flags.notruncate,
        terminalWidth: process.stdout.isTTY ? process.stdout.columns : undefined,
      };
      this.log(formatLsnsTable(tableColumns(columns), listCells(records, snapshot, columns), options));
    }
    this.reportInaccessible(snapshot, flags.verbose);
    return { schemaVersion: SCHEMA_VERSION, namespaces: records.map((r) => namespaceJson(r, snapshot)), inaccessible: inaccessibleJson(snapshot) };
  }
}

function parsePid(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 2 ** 22) {
    throw new UsageError(`invalid PID argument: '${text}'`, 'give a process id (1 to 4194304), as `ps -e` shows them');
  }
  return Number(text);
}

function noSuchProcess(pid: number): SysError {
  return SysError.of('ESRCH', 'process', String(pid), { hint: 'give the pid of a running process (see `ps -e`)' });
}

/** A pid given to -p that discovery could not read: gone meanwhile, a thread's id, or kept from us. */
function checkListed(snapshot: NamespaceSnapshot, pid: number): void {
  if (snapshot.processes.has(pid)) return;
  const denied = snapshot.inaccessible.find((i) => i.kind === 'process' && (i.target === `/proc/${pid}` || i.target.startsWith(`/proc/${pid}/`)) && i.code === 'EACCES');
  if (denied) throw SysError.of('EACCES', 'open', `/proc/${pid}/ns`, { hint: `the kernel keeps process ${pid}'s namespaces from this user` });
  throw noSuchProcess(pid);
}
