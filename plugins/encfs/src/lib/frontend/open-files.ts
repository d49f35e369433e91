import { RwLock } from './rwlock.js';
import type { Repair } from './undo.js';

/**
 * What every open of one file (one inode: hard links share it) has in common: the content
 * lock and the file ID from its header, read once. Entries live while the file is open.
 */
export class OpenFileEntry {
  readonly lock = new RwLock();
  /** The file ID of the header, once known; undefined for an empty file or not read yet. */
  fileId: Buffer | undefined;
  opens = 0;
  /** Writes accepted but still being encrypted and written by the workers, with the blocks they cover. */
  readonly pending = new Map<Promise<void>, { first: number; last: number }>();
  /** The plaintext size once every pending write has landed; undefined when none is pending. */
  logicalSize: number | undefined;
  /** The first failure of a pending write: the next fsync or close reports it. */
  failure: unknown;
  /**
   * How to put the backing file back as it was before writes that failed (written behind, or
   * whose own rollback failed too): carried out before anything else touches the file.
   */
  readonly repairs: Repair[] = [];
  /** Where the furthest read started so far ends, to tell sequential reading. */
  readEnd = -1;
  /** Blocks decrypted ahead of a sequential reader (dropped by any write or truncation). */
  ahead: { first: number; count: number; plain: Promise<Buffer>; buffer: Buffer } | undefined;

  constructor(readonly ino: bigint) {}
}

/** One open() of a file: the backing (cipher) file descriptor is the FUSE file handle. */
export interface OpenFile {
  fd: number;
  entry: OpenFileEntry;
  /** O_APPEND: writes go to the end whatever offset the kernel sends. */
  append: boolean;
}

export class OpenFileTable {
  private readonly byIno = new Map<bigint, OpenFileEntry>();
  private readonly byFd = new Map<number, OpenFile>();

  /** Registers a new open of inode `ino` on descriptor `fd`. */
  add(fd: number, ino: bigint, append: boolean): OpenFile {
    let entry = this.byIno.get(ino);
    if (!entry) {
      entry = new OpenFileEntry(ino);
      this.byIno.set(ino, entry);
    }
    entry.opens++;
    const file = { fd, entry, append };
    this.byFd.set(fd, file);
    return file;
  }

  get(fd: number): OpenFile | undefined {
    return this.byFd.get(fd);
  }

  /** The shared entry of an inode, if it is open. */
  entryOf(ino: bigint): OpenFileEntry | undefined {
    return this.byIno.get(ino);
  }

  remove(fd: number): OpenFile | undefined {
    const file = this.byFd.get(fd);
    if (!file) return undefined;
    this.byFd.delete(fd);
    if (--file.entry.opens === 0) this.byIno.delete(file.entry.ino);
    return file;
  }

  descriptors(): number[] {
    return [...this.byFd.keys()];
  }
}
