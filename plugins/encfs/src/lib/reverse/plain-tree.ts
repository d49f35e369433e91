import * as fs from 'node:fs';
import { SysError } from '@kmx/core';
import { REVERSE_CONFIG } from '../configfile/index.js';

/** The root of a multi-source view: a directory that exists only in the view. */
export const VIRTUAL_ROOT = Symbol('virtual root');
/** A plaintext directory: a real path, or the virtual root of a multi-source view. */
export type PlainDir = string | typeof VIRTUAL_ROOT;

/**
 * The plaintext side of a reverse view: one directory (whose .gocryptfs.reverse.conf is
 * hidden), or several sources under a virtual root, one top-level entry per label. A
 * multi-source view is exactly the single-directory view of a root whose entries are the
 * sources, so stock gocryptfs can restore a copy of it.
 */
export class PlainTree {
  private constructor(
    private readonly single: string | undefined,
    private readonly sources: ReadonlyMap<string, string>,
  ) {}

  static directory(root: string): PlainTree {
    return new PlainTree(root, new Map());
  }

  static sourcesOf(labels: ReadonlyMap<string, string>): PlainTree {
    return new PlainTree(undefined, labels);
  }

  get root(): PlainDir {
    return this.single ?? VIRTUAL_ROOT;
  }

  get isMultiSource(): boolean {
    return this.single === undefined;
  }

  /** The real paths the view is made of (for statfs and device registration). */
  get realRoots(): string[] {
    return this.single !== undefined ? [this.single] : [...this.sources.values()];
  }

  /** The plaintext path of `name` in `dir`; ENOENT for names the view hides or lacks. */
  child(dir: PlainDir, name: string): string {
    if (dir === VIRTUAL_ROOT) {
      const source = this.sources.get(name);
      if (source === undefined) throw SysError.of('ENOENT', 'lookup', name);
      return source;
    }
    if (dir === this.single && name === REVERSE_CONFIG) throw SysError.of('ENOENT', 'lookup', name);
    return `${dir}/${name}`;
  }

  /** The names the view shows in `dir`. */
  list(dir: PlainDir): string[] {
    if (dir === VIRTUAL_ROOT) return [...this.sources.keys()];
    const names = fs.readdirSync(dir);
    return dir === this.single ? names.filter((n) => n !== REVERSE_CONFIG) : names;
  }
}
