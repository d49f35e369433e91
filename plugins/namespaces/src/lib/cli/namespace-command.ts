import { KmxCommand } from '@kmx/core';
import { NamespaceDiscovery } from '../discovery/discover.js';
import type { Inaccessible, InaccessibleKind, NamespaceSnapshot } from '../discovery/model.js';

const PLURAL: Record<InaccessibleKind, string> = {
  process: 'processes', threads: 'thread lists', fds: 'fd lists', 'mount table': 'mount tables',
  namespace: 'namespaces', parent: 'parents', owner: 'owners',
};

function describeItem(item: Inaccessible): string {
  return `${item.kind} ${item.target}: ${item.code}${item.reason ? ` (${item.reason})` : ''}`;
}

/**
 * What root is told about. Left out: a link too long to read (ENAMETOOLONG: a namespace's link
 * is a short `type:[inode]`, so it is a path, never a namespace), and a process, its threads or
 * fds that the kernel keeps from root itself (EACCES or EPERM as root: a sandbox's init, say):
 * no tool on this host can look there, and lsns skips them without a word. Everything else, a
 * namespace, parent, owner or mount table that could not be opened, may hide a namespace.
 */
export function worthTellingRoot(item: Inaccessible): boolean {
  if (item.code === 'ENAMETOOLONG') return false;
  const ofProcess = item.kind === 'process' || item.kind === 'threads' || item.kind === 'fds';
  return !(ofProcess && (item.code === 'EACCES' || item.code === 'EPERM'));
}

/**
 * The base of the kmx ns commands: --json, discovery from the plugin's container, and the
 * report of what could not be looked at (an ordinary user sees only part of the system, and
 * says so instead of failing).
 */
export abstract class NamespaceCommand extends KmxCommand {
  static override enableJsonFlag = true;

  /**
   * Plain JSON when piped: oclif's colorizing tokenizer costs more than the whole discovery
   * on a big listing, and colours only help a terminal.
   */
  protected override logJson(json: unknown): void {
    if (process.stdout.isTTY) super.logJson(json);
    else process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  }

  protected discovery(): NamespaceDiscovery {
    return this.container.resolve(NamespaceDiscovery);
  }

  /**
   * One line on stderr (the count, by kind); with --verbose one more line per item. As root,
   * only what may hide a namespace from root: see worthTellingRoot.
   */
  protected reportInaccessible(snapshot: NamespaceSnapshot, verbose: boolean): void {
    if (this.jsonEnabled()) return;
    const root = process.getuid?.() === 0;
    const items = root ? snapshot.inaccessible.filter(worthTellingRoot) : snapshot.inaccessible;
    if (items.length > 0) {
      const kinds = new Map<InaccessibleKind, number>();
      for (const item of items) kinds.set(item.kind, (kinds.get(item.kind) ?? 0) + 1);
      const counts = [...kinds].map(([kind, n]) => `${n} ${n === 1 ? kind : PLURAL[kind]}`).join(', ');
      const more = verbose ? ':' : '; --verbose lists them';
      process.stderr.write(`kmx ns: not accessible: ${counts}${root ? '' : ' (run as root to see more)'}${more}\n`);
    }
    if (!verbose) return;
    for (const item of items) process.stderr.write(`  ${describeItem(item)}\n`);
    const unused = snapshot.inaccessible.filter((i) => !items.includes(i));
    if (unused.length > 0) process.stderr.write(`kmx ns: kept from root too, or not a namespace (no tool sees more):\n`);
    for (const item of unused) process.stderr.write(`  ${describeItem(item)}\n`);
  }
}
