import type { Attr } from '@kmx/core';

interface Cached<T> {
  value: T;
  expires: number;
  /** When the server said it (or the mount changed it). */
  at?: number;
}

const MAX_ENTRIES = 200_000;

export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function childOf(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * sshfs's attribute and directory caches: what the server said about a path, for `timeoutMs`.
 * A fresh listing of a directory also answers "no such file" for names not in it, without a
 * round trip (an untar looks up every name before creating it). Changes made through the
 * mount update or drop the entries they touch; changes made on the server behind the mount's
 * back show after the timeout, as with sshfs.
 */
export class MetadataCache {
  private readonly attrs = new Map<string, Cached<Attr>>();
  private readonly dirs = new Map<string, Cached<Set<string>>>();
  /**
   * The paths cached beneath each directory, one level down, with every directory between a
   * cached path and the root linked in: forgetting a subtree visits that subtree only (a mkdir
   * forgets what was cached beneath its name), whatever the size of the cache.
   */
  private readonly children = new Map<string, Set<string>>();
  /**
   * The paths cached for each inode number with more than one name (known only where the
   * server says inode numbers: kmx's extension): a change of one name's link count or ctime
   * is every name's.
   */
  private readonly names = new Map<number, Set<string>>();

  constructor(private readonly timeoutMs: number) {}

  get enabled(): boolean {
    return this.timeoutMs > 0;
  }

  /** The attributes, null when a fresh listing of the parent lacks the name, or undefined when unknown. */
  lookup(path: string): Attr | null | undefined {
    const now = Date.now();
    const hit = this.attrs.get(path);
    if (hit && hit.expires > now) return hit.value;
    if (path === '/') return undefined;
    const parent = this.dirs.get(parentOf(path));
    if (parent && parent.expires > now && !parent.value.has(nameOf(path))) return null;
    return undefined;
  }

  setAttr(path: string, attr: Attr, timeoutMs = this.timeoutMs): void {
    if (!this.enabled) return;
    this.trim();
    const now = Date.now();
    this.attrs.set(path, { value: attr, expires: now + Math.min(timeoutMs, this.timeoutMs), at: now });
    this.index(path);
    this.indexName(path, attr);
  }

  private indexName(path: string, attr: Attr): void {
    if (attr.ino === undefined || attr.nlink < 2 || (attr.mode & 0o170000) === 0o040000) return;
    let paths = this.names.get(attr.ino);
    if (!paths) this.names.set(attr.ino, (paths = new Set()));
    paths.add(path);
  }

  /** The link count or ctime of inode `ino` changed: forget what any of its names says. */
  forgetFile(ino: number | undefined): void {
    if (ino === undefined) return;
    const paths = this.names.get(ino);
    if (!paths) return;
    this.names.delete(ino);
    for (const path of paths) this.attrs.delete(path);
  }

  /** The attributes if they were learnt within `maxAgeMs` (fresher than the cache's own trust). */
  recent(path: string, maxAgeMs: number): Attr | undefined {
    const hit = this.attrs.get(path);
    return hit && hit.at !== undefined && Date.now() - hit.at <= maxAgeMs && hit.expires > Date.now() ? hit.value : undefined;
  }

  /**
   * Data was written up to `end` through the mount: the size grows, the times are now (`clock`, as the
   * server will set them, by its own clock). Trusted for a second only, then asked again.
   */
  written(path: string, end: number, clock: () => Attr['mtime']): void {
    const hit = this.attrs.get(path);
    if (!hit) return;
    const now = clock();
    const size = Math.max(hit.value.size, end);
    const blocks = Math.max(hit.value.blocks ?? 0, Math.ceil(size / 4096) * 8);
    this.setAttr(path, { ...hit.value, size, blocks, mtime: now, ctime: now }, Math.min(1000, hit.expires - Date.now()));
  }

  /** The names of a fresh listing, or undefined. */
  listing(path: string): Set<string> | undefined {
    const hit = this.dirs.get(path);
    return hit && hit.expires > Date.now() ? hit.value : undefined;
  }

  setListing(path: string, entries: ReadonlyArray<{ name: string; attr: Attr }>): void {
    if (!this.enabled) return;
    this.trim();
    const expires = Date.now() + this.timeoutMs;
    this.dirs.set(path, { value: new Set(entries.map((e) => e.name)), expires });
    this.index(path);
    for (const e of entries) {
      const child = childOf(path, e.name);
      this.attrs.set(child, { value: e.attr, expires });
      this.index(child);
      this.indexName(child, e.attr);
    }
  }

  /**
   * A name was created in its directory through the mount. The directory's own attributes
   * (mtime, ctime, link count) changed with it: they are asked again.
   */
  added(path: string, attr?: Attr): void {
    this.listing(parentOf(path))?.add(nameOf(path));
    this.attrs.delete(parentOf(path));
    if (attr) this.setAttr(path, attr);
    else this.attrs.delete(path);
  }

  /** A name was removed from its directory through the mount (its subtree goes too, and the directory's attributes). */
  removed(path: string): void {
    this.listing(parentOf(path))?.delete(nameOf(path));
    this.attrs.delete(parentOf(path));
    this.forgetTree(path);
  }

  /** The attributes of `path` changed (size, mode, times). */
  changed(path: string): void {
    this.attrs.delete(path);
  }

  /** Something happened we cannot describe precisely: forget the path and its parent's listing. */
  invalidate(path: string): void {
    this.dirs.delete(parentOf(path));
    this.forgetTree(path);
  }

  clear(): void {
    this.attrs.clear();
    this.dirs.clear();
    this.children.clear();
    this.names.clear();
  }

  /** Links `path` to its parent in `children`, and so on up to the first one already linked. */
  private index(path: string): void {
    for (let p = path; p !== '/'; p = parentOf(p)) {
      const parent = parentOf(p);
      let below = this.children.get(parent);
      if (!below) this.children.set(parent, (below = new Set()));
      if (below.has(p)) return;
      below.add(p);
    }
  }

  private forgetTree(path: string): void {
    if (path !== '/') this.children.get(parentOf(path))?.delete(path);
    const pending = [path];
    for (let p = pending.pop(); p !== undefined; p = pending.pop()) {
      this.attrs.delete(p);
      this.dirs.delete(p);
      const below = this.children.get(p);
      if (!below) continue;
      this.children.delete(p);
      for (const child of below) pending.push(child);
    }
  }

  private trim(): void {
    if (this.attrs.size + this.dirs.size + this.names.size > MAX_ENTRIES) this.clear();
  }
}
