import type { ContentEnc } from '../contentenc/index.js';
import type { CryptoPool } from '../cryptopool/index.js';
import { Resizer } from './allocate-truncate.js';
import { ContentBlocks } from './content-blocks.js';
import { ContentReader } from './content-read.js';
import type { CorruptionLog } from './corruption-log.js';
import type { OpenFile } from './open-files.js';
import { WriteBehind, landed } from './write-behind.js';
import { WriteFailures } from './write-failures.js';

/**
 * Reads, writes and truncates the plaintext of one open encrypted file, block by block
 * (content-blocks.ts). Every operation holds the file's content lock.
 *
 * A write that fails never costs old data. Each one is a Transaction: its space is reserved
 * before the first byte changes (a full disk or quota fails it cleanly), and the old bytes it
 * overwrites are saved first, to be put back, with the old size, if any step fails (EIO, or
 * ENOSPC where space cannot be reserved). The format has no journal: a block half rewritten
 * authenticates neither as the old one nor as the new one.
 *
 * Large writes of whole blocks are written behind (write-behind.ts): answered before they
 * land, so one that fails is put right later and reported by the next fsync or close
 * (write-failures.ts).
 */
export class FileContent {
  private readonly blocks: ContentBlocks;
  private readonly failures: WriteFailures;
  private readonly reader: ContentReader;
  private readonly behind: WriteBehind;
  private readonly resizer: Resizer;

  constructor(enc: ContentEnc, private readonly corruption: CorruptionLog, pool?: CryptoPool) {
    this.blocks = new ContentBlocks(enc, corruption, pool);
    this.failures = new WriteFailures(corruption);
    this.reader = new ContentReader(this.blocks, this.failures);
    this.behind = new WriteBehind(this.blocks, this.failures);
    this.resizer = new Resizer(this.blocks, this.failures);
  }

  read(file: OpenFile, path: string, buffer: Buffer, position: number): Promise<number> {
    return this.reader.read(file, path, buffer, position);
  }

  /**
   * A failure of an earlier write behind is not this write's answer: fsync and close report it.
   * The kernel splits a large write(2) into several requests and turns a failed later one into
   * a short count, which would claim the lost earlier part written.
   */
  write(file: OpenFile, path: string, data: Buffer, position: number): Promise<number> {
    return file.entry.lock.exclusive(async () => {
      file.entry.ahead = undefined;
      if (data.length === 0) return 0;
      if (!(await this.behind.write(file, path, data, position))) {
        await landed(file);
        this.failures.repair(file, path); // what a write behind that failed meanwhile left, undone first
        const at = file.append ? this.plainSize(file) : position;
        await this.failures.transact(file, (tx) => this.blocks.writeIn(file, path, tx, data, at));
      }
      return data.length;
    });
  }

  /** fsync and close: every accepted write has landed (or was undone), and a failure of one is reported now. */
  settle(file: OpenFile, path: string): Promise<void> {
    return file.entry.lock.exclusive(async () => {
      await landed(file);
      let repairError: unknown;
      try {
        this.failures.repair(file, path);
      } catch (err) {
        repairError = err;
      }
      this.failures.report(file, path);
      if (repairError !== undefined) throw repairError;
    });
  }

  /** The last close: writes land, and what failed is undone (or logged, if the disk still refuses). */
  finish(file: OpenFile, path: string): Promise<void> {
    return file.entry.lock.exclusive(async () => {
      await landed(file);
      this.failures.tryRepair(file, path);
      if (file.entry.repairs.length > 0) {
        this.corruption.report(`${file.entry.ino}:undo`, `could not undo a failed write in ${path || `inode ${file.entry.ino}`} before it was closed: blocks it tore give EIO`);
      }
    });
  }

  landed(file: OpenFile): Promise<void> {
    return landed(file);
  }

  truncate(file: OpenFile, path: string, size: number): Promise<void> {
    return this.resizer.truncate(file, path, size);
  }

  allocate(file: OpenFile, path: string, mode: number, offset: number, length: number): Promise<void> {
    return this.resizer.allocate(file, path, mode, offset, length);
  }

  plainSize(file: OpenFile): number {
    return this.blocks.plainSize(file);
  }
}
