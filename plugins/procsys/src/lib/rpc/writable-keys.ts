import { KmxError, SysError } from '@kmx/core';
import { WatchedOwnerFile } from './owner-file.js';

/**
 * `serve --writable-keys FILE`: the only /proc/sys keys a remote client may write. One key a
 * line as its path below /proc/sys (`kernel/printk_ratelimit_burst`; a leading `/proc/sys/`
 * is allowed), or a directory ending in `/` for every key below it (`net/ipv4/conf/eth1/`).
 * `#` starts a comment. No globs, no `.` or `..`: a line that is not one of these forms
 * stops the agent at start (and, if the file is changed into one, refuses every write).
 */
export interface KeyList {
  keys: Set<string>;
  prefixes: string[];
}

const COMPONENT = /^[A-Za-z0-9_.:@+-]+$/;

export function parseKeyList(text: string, path: string): KeyList {
  const list: KeyList = { keys: new Set(), prefixes: [] };
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const bad = (why: string): never => {
      throw new KmxError(`${path}:${index + 1}: ${why}: ${JSON.stringify(line)}`, { hint: 'one sysctl key a line, as kernel/printk_ratelimit_burst, or a directory as net/ipv4/conf/eth1/' });
    };
    if (/[*?[\]{}]/.test(line)) bad('globs are not accepted');
    const key = line.replace(/^\/proc\/sys\//, '');
    const prefix = key.endsWith('/');
    const parts = (prefix ? key.slice(0, -1) : key).split('/');
    if (key.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || !COMPONENT.test(p))) bad('not a key below /proc/sys');
    if (prefix) list.prefixes.push(`${parts.join('/')}/`);
    else list.keys.add(parts.join('/'));
  });
  return list;
}

export class WritableKeys {
  private readonly file: WatchedOwnerFile<KeyList>;

  constructor(readonly path: string, private readonly log: (line: string) => void = () => undefined) {
    this.file = new WatchedOwnerFile(path, 'list of writable keys', parseKeyList);
  }

  /** Throws EACCES unless `parts` (an agent path: sys/…) is a key the list names now. */
  check(parts: readonly string[]): void {
    const path = parts.join('/');
    if (parts[0] !== 'sys' || parts.length < 2) throw SysError.of('EACCES', 'open', path, { detail: 'only keys below sys/ are writable remotely' });
    let list: KeyList;
    try {
      list = this.file.current();
    } catch (err) {
      this.log(`refusing a write to ${path}: ${err instanceof Error ? err.message : String(err)}`);
      throw SysError.of('EACCES', 'open', path, { detail: 'the list of writable keys cannot be used' });
    }
    const key = parts.slice(1).join('/');
    if (!list.keys.has(key) && !list.prefixes.some((p) => key.startsWith(p))) throw SysError.of('EACCES', 'open', path, { detail: `${key} is not in ${this.path}` });
  }
}
