import { SysError, type Attr } from '@kmx/core';
import type { Stats } from 'ssh2';
import type { Connection } from '../connection/connection.js';
import type { Timespec } from '../protocol/kmx-posix.js';
import type { SftpSession } from '../protocol/session.js';
import { attrFromStats, kmxRecord, type IdMap } from './attrs.js';
import { MetadataCache } from './cache.js';
import { OpenFiles } from './open-file.js';

export interface SftpFileSystemOptions {
  /** The remote directory mounted, absolute. */
  root: string;
  /** How long attributes and listings are trusted (0: never cached). */
  cacheTimeoutMs: number;
  /** Bytes of written data per open file that may wait for the server's answer. */
  writeBehindLimit: number;
  readOnly: boolean;
  /** Show what symlinks point to instead of the links (sshfs -o follow_symlinks). */
  followSymlinks: boolean;
  ids: IdMap;
  /**
   * The mounted directory's device, when the server speaks kmx's extension (kmx sftp serve):
   * attributes then carry link counts, inode numbers and nanosecond times (attrs.ts).
   */
  rootDev?: bigint | undefined;
}

/**
 * What the mount's operations share: the remote directory's paths, the Connection every
 * request goes through (it reconnects and decides what is retried), the metadata cache and
 * the files open through the mount.
 */
export class RemoteTree {
  readonly cache: MetadataCache;
  readonly files = new OpenFiles();

  constructor(readonly connection: Connection, readonly options: SftpFileSystemOptions) {
    this.cache = new MetadataCache(options.cacheTimeoutMs);
  }

  /** The server's path for a path in the mount. */
  remote(path: string): string {
    const root = this.options.root;
    if (path === '/') return root;
    return root === '/' ? path : root + path;
  }

  run<T>(repeatable: boolean, operation: (session: SftpSession) => Promise<T>): Promise<T> {
    return this.connection.run(repeatable, operation);
  }

  attr(stats: Stats): Attr {
    return attrFromStats(stats, this.options.ids, this.options.rootDev);
  }

  /** Whether the server says what SFTP v3 cannot (kmx's extension): then its attributes are the truth. */
  knowsAll(stats: Stats): boolean {
    return this.options.rootDev !== undefined && kmxRecord(stats) !== undefined;
  }

  /**
   * Now, as a change through the mount sets it: whole seconds over SFTP v3 (all it keeps).
   * Bound, as it is the cache's clock on every write.
   */
  readonly now = (): Timespec => {
    const ms = Date.now();
    return this.connection.live?.kmxPosix ? { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 } : { sec: Math.floor(ms / 1000), nsec: 0 };
  };

  /**
   * A change to `path` the server answers with "no such file": whatever the cache says about
   * it is stale (changed on the server behind the mount's back), so it is forgotten and the
   * next lookup asks the server. Otherwise an `rm -rf` of such a tree "succeeds" while
   * every name in it keeps answering EEXIST for the rest of the cache timeout.
   */
  async changing<T>(path: string, change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } catch (err) {
      if (err instanceof SysError && err.code === 'ENOENT') this.cache.removed(path);
      throw err;
    }
  }

  writable(syscall: string, path: string): void {
    if (this.options.readOnly) throw SysError.of('EROFS', syscall, path);
  }

  /**
   * Requests queued behind for `path` are sent before a request about its attributes, which
   * then follows them without waiting for their answers: the server takes requests in order.
   */
  async sendQueued(path: string): Promise<void> {
    for (const file of this.files.ofPath(path)) await file.dispatched();
  }
}
