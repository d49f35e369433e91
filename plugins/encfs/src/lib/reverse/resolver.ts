import { SysError } from '@kmx/core';
import { DIRIV_NAME, LONGNAME_SUFFIX, ZERO_IV, isValidPlainName, type NameTransform, type OnDiskName } from '../nametransform/index.js';
import { pathIv } from '../pathiv/index.js';
import type { PlainDir, PlainTree } from './plain-tree.js';

export const CONFIG_NAME = 'gocryptfs.conf';
const CACHE_MAX = 16384;

/** What a path of the reverse view is. `cPath` is the encrypted path relative to the root ("" for it). */
export type ReverseNode =
  /** A plaintext entry (the root included) shown encrypted. */
  | { kind: 'real'; plain: PlainDir; cPath: string; name: string }
  /** The virtual gocryptfs.diriv of a directory. */
  | { kind: 'dirIv'; dir: PlainDir; cPath: string }
  /** The virtual .name file of a long name: `entry` is the named entry, `longName` its full encrypted name. */
  | { kind: 'longName'; entry: string; entryCPath: string; longName: string }
  /** gocryptfs.conf in the root. */
  | { kind: 'config' };

export function childCPath(cDir: string, onDiskName: string): string {
  return cDir === '' ? onDiskName : `${cDir}/${onDiskName}`;
}

/**
 * Maps paths of the encrypted view back to plaintext paths. Names decrypt under the IV derived
 * from their directory's encrypted path; a hashed long name is found by encrypting the
 * plaintext directory's names (cached per directory, rebuilt on a miss).
 */
export class ReverseResolver {
  private readonly ivs = new Map<string, Buffer>();
  private readonly longNames = new Map<string, Map<string, string>>();

  constructor(readonly tree: PlainTree, readonly names: NameTransform, readonly useDirIv: boolean) {}

  /** The IV of the names in the directory at encrypted path `cDir`. */
  dirIv(cDir: string): Buffer {
    if (!this.useDirIv) return ZERO_IV;
    let iv = this.ivs.get(cDir);
    if (!iv) {
      iv = pathIv(cDir, 'DIRIV');
      if (this.ivs.size >= CACHE_MAX) this.ivs.clear();
      this.ivs.set(cDir, iv);
    }
    return iv;
  }

  /** The on-disk name `plainName` has in the directory at `cDir`. */
  encrypt(cDir: string, plainName: string): OnDiskName {
    return this.names.onDisk(this.names.encryptName(plainName, this.dirIv(cDir)));
  }

  resolve(path: string): ReverseNode {
    let node: ReverseNode = { kind: 'real', plain: this.tree.root, cPath: '', name: '' };
    if (path === '/') return node;
    const parts = path.slice(1).split('/');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (node.kind !== 'real') throw SysError.of('ENOTDIR', 'lookup', path);
      node = this.step(node.plain, node.cPath, part, i === parts.length - 1, path);
    }
    return node;
  }

  private step(dir: PlainDir, cDir: string, part: string, last: boolean, path: string): ReverseNode {
    if (cDir === '' && part === CONFIG_NAME) return { kind: 'config' };
    if (this.useDirIv && part === DIRIV_NAME) return { kind: 'dirIv', dir, cPath: cDir };
    if (this.names.isLongNameSidecar(part)) {
      if (!last) throw SysError.of('ENOTDIR', 'lookup', path);
      const hashed = part.slice(0, -LONGNAME_SUFFIX.length);
      const plainName = this.findLongName(dir, cDir, hashed, path);
      return { kind: 'longName', entry: this.tree.child(dir, plainName), entryCPath: childCPath(cDir, hashed), longName: this.encrypt(cDir, plainName).longName! };
    }
    let plainName: string;
    if (this.names.isLongName(part)) plainName = this.findLongName(dir, cDir, part, path);
    else {
      if (!this.names.plaintext && part.length > this.names.options.longNameMax && this.names.options.longNames) throw SysError.of('ENOENT', 'lookup', path);
      try {
        plainName = this.names.decryptName(part, this.dirIv(cDir));
      } catch {
        throw SysError.of('ENOENT', 'lookup', path);
      }
      if (!isValidPlainName(plainName)) throw SysError.of('ENOENT', 'lookup', path);
    }
    return { kind: 'real', plain: this.tree.child(dir, plainName), cPath: childCPath(cDir, part), name: plainName };
  }

  /** The plaintext name behind gocryptfs.longname.<hash> in a directory. */
  private findLongName(dir: PlainDir, cDir: string, hashed: string, path: string): string {
    const cached = this.longNames.get(cDir)?.get(hashed);
    if (cached !== undefined) return cached;
    const table = new Map<string, string>();
    for (const name of this.tree.list(dir)) {
      const onDisk = this.encrypt(cDir, name);
      if (onDisk.longName !== undefined) table.set(onDisk.name, name);
    }
    if (this.longNames.size >= CACHE_MAX / 16) this.longNames.clear();
    this.longNames.set(cDir, table);
    const found = table.get(hashed);
    if (found === undefined) throw SysError.of('ENOENT', 'lookup', path);
    return found;
  }
}
