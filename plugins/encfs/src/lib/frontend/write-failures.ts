import { fstatSync } from 'node:fs';
import { SysError, errnoOf } from '@kmx/core';
import { WriteFailure } from '../cryptopool/index.js';
import type { CorruptionLog } from './corruption-log.js';
import type { OpenFile, OpenFileEntry } from './open-files.js';
import { Transaction, repairFile, type Repair } from './undo.js';

/**
 * What failed writes leave, and who learns of it. A write done in place is a Transaction,
 * rolled back at once; a write behind that fails is put right once every write has landed;
 * what the disk does not let be undone yet (a failing disk) stays recorded on the file and
 * is retried before its next operation. A failure is the answer of the write it happened in,
 * or, for a write behind, of the file's next fsync or close.
 */
export class WriteFailures {
  constructor(private readonly corruption: CorruptionLog) {}

  /**
   * Runs one change of the backing file as a transaction: if it fails, the file is put back
   * as it was (what cannot be yet is kept, to be tried before the file's next operation) and
   * the failure's errno is the answer.
   */
  async transact(file: OpenFile, body: (tx: Transaction) => Promise<void>): Promise<void> {
    const { entry } = file;
    const tx = new Transaction(file.fd);
    const fileId = entry.fileId;
    try {
      await body(tx);
    } catch (err) {
      entry.ahead = undefined;
      const left = tx.rollback();
      entry.fileId = tx.oldSize === 0 ? undefined : fileId; // an empty file is empty again: no header
      if (left) this.keep(entry, '', left);
      throw err instanceof WriteFailure ? err.reason : err;
    }
  }

  /**
   * Once every write has landed, puts right what failed writes changed: the blocks of failed
   * appends become holes (the file keeps the size the kernel was told), and the old bytes
   * failed overwrites replaced are restored (a write done in place whose own rollback failed
   * is cut back to its old size). Throws (with the disk's errno) while that is not possible;
   * it is tried again before every later operation on the file.
   */
  repair(file: OpenFile, path: string): void {
    const { entry } = file;
    if (entry.repairs.length === 0 || entry.pending.size > 0) return;
    entry.ahead = undefined;
    const records = entry.repairs.splice(0);
    const cuts = records.flatMap((r) => (r.truncateTo === undefined ? [] : [r.truncateTo]));
    const grows = records.flatMap((r) => (r.growTo === undefined ? [] : [r.growTo]));
    const left = repairFile(file.fd, {
      ...(cuts.length > 0 ? { truncateTo: Math.min(...cuts) } : {}),
      ...(grows.length > 0 ? { growTo: Math.max(...grows) } : {}),
      holes: records.flatMap((r) => r.holes ?? []),
      undo: records.flatMap((r) => r.undo),
      reservedEnd: Math.max(0, ...records.map((r) => r.reservedEnd ?? 0)),
    });
    if (fstatSync(file.fd).size === 0) entry.fileId = undefined; // cut back to empty: no header
    if (!left) return;
    this.keep(entry, path, left);
    throw new SysError(errnoOf(left.error) ?? 5, 'write', path, { detail: 'undoing an earlier failed write' });
  }

  tryRepair(file: OpenFile, path: string): void {
    try {
      this.repair(file, path);
    } catch {
      // Stays recorded: reads of blocks still torn give EIO; writes, fsync and close report it.
    }
  }

  /** Throws the first failure of a write behind since the last report (fsync and close). */
  report(file: OpenFile, path: string): void {
    const { failure } = file.entry;
    if (failure === undefined) return;
    file.entry.failure = undefined;
    // The failure's own errno (ENOSPC, EDQUOT, EIO …), so the writer learns what went wrong.
    const errno = errnoOf(failure) ?? 5;
    throw new SysError(errno, 'write', path, { detail: `an earlier write failed: ${messageOf(failure)}` });
  }

  /** Undoing failed writes is left to the file's next operation. */
  private keep(entry: OpenFileEntry, path: string, left: Repair & { error: unknown }): void {
    const { error, ...rest } = left;
    entry.repairs.push(rest);
    this.corruption.report(`${entry.ino}:undo`, `could not yet undo a failed write in ${path || `inode ${entry.ino}`}: ${messageOf(error)}; retrying before its next operation`);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
