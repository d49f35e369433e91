import { KmxCommand } from '@kmx/core';
import { NamespaceDiscovery } from '../discovery/discover.js';
import type { InaccessibleKind, NamespaceSnapshot } from '../discovery/model.js';

const PLURAL: Record<InaccessibleKind, string> = {
  process: 'processes', threads: 'thread lists', fds: 'fd lists', 'mount table': 'mount tables',
  namespace: 'namespaces', parent: 'parents', owner: 'owners',
};

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

  /** One line on stderr (the count, by kind); with --verbose one more line per item. */
  protected reportInaccessible(snapshot: NamespaceSnapshot, verbose: boolean): void {
    const items = snapshot.inaccessible;
    if (this.jsonEnabled() || items.length === 0) return;
    const kinds = new Map<InaccessibleKind, number>();
    for (const item of items) kinds.set(item.kind, (kinds.get(item.kind) ?? 0) + 1);
    const counts = [...kinds].map(([kind, n]) => `${n} ${n === 1 ? kind : PLURAL[kind]}`).join(', ');
    const more = verbose ? ':' : '; --verbose lists them';
    const who = process.getuid?.() === 0 ? '' : ' (run as root to see more)';
    process.stderr.write(`kmx ns: not accessible: ${counts}${who}${more}\n`);
    if (verbose) {
      for (const item of items) process.stderr.write(`  ${item.kind} ${item.target}: ${item.code}${item.reason ? ` (${item.reason})` : ''}\n`);
    }
  }
}
