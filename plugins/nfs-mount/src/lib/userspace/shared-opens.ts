import { constants as fsConstants } from 'node:fs';
import { SysError } from '@kmx/core';
import type { NfsClient, NfsHandle } from './client.js';

const O_ACCMODE = 3;
/** What an open of a file shares with the mount's other opens of it: access and O_APPEND. */
const SHARED_FLAGS = O_ACCMODE | fsConstants.O_APPEND;

/** The one libnfs open of a file behind every open of it through the mount. */
export interface SharedOpen {
  /** The file's inode number (its hard links share it). */
  ino: number;
  handle: NfsHandle;
  /** Access and O_APPEND it was opened with. */
  flags: number;
  users: number;
  /** Settled except while the libnfs open is being replaced: I/O waits for it. */
  ready: Promise<void>;
}

const writes = (flags: number): boolean => (flags & O_ACCMODE) !== fsConstants.O_RDONLY;

/** Whether an open for `have` serves one asked for `want`. */
function covers(have: number, want: number): boolean {
  const access = (have & O_ACCMODE) === fsConstants.O_RDWR || (have & O_ACCMODE) === (want & O_ACCMODE);
  return access && (!writes(want) || (have & fsConstants.O_APPEND) === (want & fsConstants.O_APPEND));
}

/**
 * NFSv4 through libnfs 4.0 (measured against ganesha): the opens of one file by one client
 * share the server's open state, so a second libnfs open of a file leaves the first one's
 * stateid stale (its reads fail), and closing both sends a CLOSE the server no longer knows,
 * after which libnfs's open-owner sequence is out of step and every later OPEN of the session
 * fails (BAD_SEQID, seen as ERANGE). So each file (by inode: hard links are one file) has one
 * libnfs open per client (each user of a shared mount is a client of its own), shared and
 * counted; an open that needs more access reopens it read-write. Attributes are changed without
 * an OPEN (raw.ts setattrV4), never through libnfs's own, which would open the file beside
 * ours. Opens and closes run one at a time (FUSE sends a RELEASE without waiting for it, so the
 * next OPEN of the file can overtake it).
 */
export class SharedOpens {
  private readonly byIno = new Map<number, SharedOpen>();
  private queue: Promise<unknown> = Promise.resolve();

  /** `settle(shared)`: waits for the writes behind of every open through `shared`. */
  constructor(private readonly client: NfsClient, private readonly settle: (shared: SharedOpen) => Promise<void>) {}

  /**
   * The shared open of the file at `path` for an open asking `flags`; `openFirst` opens it when
   * the mount has no open of it yet (and applies O_TRUNC itself). `created`: `openFirst`
   * creates it, so it is a file of its own (a freed inode number may come back).
   */
  acquire(path: string, flags: number, openFirst: () => Promise<NfsHandle>, created = false): Promise<SharedOpen> {
    return this.inTurn(async () => {
      const want = flags & SHARED_FLAGS;
      const known = created ? undefined : await this.inode(path);
      const current = known === undefined ? undefined : this.byIno.get(known);
      if (current === undefined) {
        const handle = await openFirst();
        const shared: SharedOpen = { ino: known ?? (await this.inode(path)), handle, flags: want, users: 1, ready: Promise.resolve() };
        this.byIno.set(shared.ino, shared);
        return shared;
      }
      if (!covers(current.flags, want)) {
        if (writes(want) && writes(current.flags) && (want & fsConstants.O_APPEND) !== (current.flags & fsConstants.O_APPEND)) {
          // Both write, one with O_APPEND and one without: one libnfs open cannot be both.
          throw SysError.of('EBUSY', 'open', path, { detail: 'libnfs 4.0 keeps one NFSv4 open per file, and it is open for writing in the other mode (O_APPEND)' });
        }
        const append = (writes(current.flags) ? current.flags : want) & fsConstants.O_APPEND;
        await this.replace(path, current, fsConstants.O_RDWR | append);
      }
      current.users++;
      if (flags & fsConstants.O_TRUNC) {
        await this.settle(current);
        await this.client.ftruncate(current.handle, 0);
      }
      return current;
    });
  }

  /** One open of the file ends; the last one closes it. */
  release(shared: SharedOpen): Promise<void> {
    return this.inTurn(async () => {
      if (--shared.users > 0) return;
      if (this.byIno.get(shared.ino) === shared) this.byIno.delete(shared.ino);
      await this.client.close_(shared.handle);
    });
  }

  /** The file numbered `ino` lost its last name: its opens keep it, and the number may come back. */
  forget(ino: number): void {
    this.byIno.delete(ino);
  }

  private async inode(path: string): Promise<number> {
    const { ino } = await this.client.lstat(path);
    if (ino === undefined) throw SysError.of('EIO', 'open', path, { detail: 'the server gave no file id' });
    return ino;
  }

  private inTurn<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(step, step);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Closes the libnfs open once the writes behind it have landed and opens it again with
   * `flags` (as it was, if that fails). I/O arriving meanwhile waits on `ready`.
   */
  private async replace(path: string, shared: SharedOpen, flags: number): Promise<void> {
    let reopened!: () => void;
    shared.ready = new Promise((resolve) => (reopened = resolve));
    try {
      await this.settle(shared);
      await this.client.close_(shared.handle);
      try {
        shared.handle = await this.client.open(path, flags);
        shared.flags = flags;
      } catch (err) {
        shared.handle = await this.client.open(path, shared.flags);
        throw err;
      }
    } finally {
      reopened();
    }
  }
}
