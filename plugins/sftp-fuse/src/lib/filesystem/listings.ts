import type { DirEntry } from '@kmx/core';
import { S_IFMT } from './attrs.js';
import { childOf } from './cache.js';
import type { RemoteTree } from './remote-tree.js';
import { followLinks } from './symlinks.js';

/** Subdirectory listings fetched ahead of a walk at once. */
const PREFETCH_LIMIT = 16;
const PREFETCH_QUEUE = 4096;

/**
 * Directory listings: from the cache while they are fresh, else one request per directory at
 * a time, whose result fills the cache; a walk's subdirectories are fetched ahead.
 */
export class DirectoryListings {
  /** Listings being fetched, by path (a reader and a prefetch share one request). */
  private readonly listings = new Map<string, Promise<DirEntry[]>>();
  private prefetching = 0;
  private readonly prefetchQueue: string[] = [];

  constructor(private readonly tree: RemoteTree) {}

  async readdir(path: string): Promise<DirEntry[]> {
    const cached = this.cachedListing(path);
    if (cached) return cached;
    const listing = this.listings.get(path) ?? this.fetchListing(path);
    const entries = await listing;
    this.prefetchSubdirectories(path, entries);
    return entries;
  }

  /**
   * A walk (find, du, ls -R) reads the subdirectories of every directory it lists: ask for
   * their listings now, several at once, instead of one round trip after another. Only for
   * directories actually listed, a bounded number at a time, and only while the cache is on.
   */
  private prefetchSubdirectories(path: string, entries: readonly DirEntry[]): void {
    if (!this.tree.cache.enabled) return;
    for (const e of entries) {
      if (e.attr && (e.attr.mode & S_IFMT) === 0o040000 && this.prefetchQueue.length < PREFETCH_QUEUE) this.prefetchQueue.push(childOf(path, e.name));
    }
    this.pumpPrefetch();
  }

  private pumpPrefetch(): void {
    while (this.prefetching < PREFETCH_LIMIT && this.prefetchQueue.length > 0) {
      const child = this.prefetchQueue.shift()!;
      if (this.listings.has(child) || this.tree.cache.listing(child)) continue;
      this.prefetching++;
      this.fetchListing(child).catch(() => undefined).finally(() => {
        this.prefetching--;
        this.pumpPrefetch();
      });
    }
  }

  /** One listing request per directory at a time; its result fills the cache. */
  private fetchListing(path: string): Promise<DirEntry[]> {
    const listing = this.listDirectory(path).finally(() => this.listings.delete(path));
    this.listings.set(path, listing);
    return listing;
  }

  private async listDirectory(path: string): Promise<DirEntry[]> {
    const list = await this.tree.run(true, (s) => s.readdir(this.tree.remote(path)));
    const entries = list.filter((e) => e.name !== '.' && e.name !== '..').map((e) => ({ name: e.name, attr: this.tree.attr(e.attrs) }));
    if (this.tree.options.followSymlinks) await followLinks(entries, (name) => this.tree.run(true, (s) => s.stat(this.tree.remote(childOf(path, name)))), (stats) => this.tree.attr(stats));
    this.tree.cache.setListing(path, entries);
    return entries;
  }

  /** A listing served from the cache when it and the attributes of every entry are fresh. */
  private cachedListing(path: string): DirEntry[] | undefined {
    const names = this.tree.cache.listing(path);
    if (!names) return undefined;
    const entries: DirEntry[] = [];
    for (const name of names) {
      const attr = this.tree.cache.lookup(childOf(path, name));
      if (!attr) return undefined;
      entries.push({ name, attr });
    }
    return entries;
  }
}
