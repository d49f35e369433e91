import { fstatSync } from 'node:fs';
import { preallocate, readAt, releaseBeyond, restoreSaved, truncateFd, writeAt, type SavedBytes } from './io.js';

/**
 * What is left to do to put a backing file back as it was before writes that failed: cut it
 * back to `truncateTo` (freeing what they added), then restore the old bytes they overwrote.
 * Kept on the open file and retried before anything else touches it, until it succeeds.
 */
export interface Repair {
  truncateTo?: number;
  undo: SavedBytes[];
  /** Where space reserved for the writes ends (given back past `truncateTo`). */
  reservedEnd?: number;
}

/**
 * One operation on a backing file (a write, with its padding and header, or a truncation)
 * that either happens or leaves the file as it was. Space is reserved before anything is
 * written (a full disk fails the operation before the file changes), and every byte of the old
 * file it overwrites is saved first: if a step fails (ENOSPC where reserving is not possible,
 * EIO, EDQUOT …), rollback() cuts the file back to its old size and restores those bytes. The
 * encrypted format has no journal: each block sits at a fixed place, and a block half
 * rewritten authenticates neither as the old nor as the new one.
 */
export class Transaction {
  readonly oldSize: number;
  private readonly saved: SavedBytes[] = [];
  private reservedEnd = 0;

  constructor(readonly fd: number) {
    this.oldSize = fstatSync(fd).size;
  }

  /** Reserves [offset, offset+length) (ENOSPC/EDQUOT now, before the first byte is written). */
  reserve(offset: number, length: number): void {
    this.reservedEnd = Math.max(this.reservedEnd, offset + length); // given back past the old end by a rollback, even if reserving failed half-way
    preallocate(this.fd, offset, length);
  }

  /** Saves the old bytes in [offset, offset+length) that the file has (none past its old end). */
  save(offset: number, length: number): void {
    const end = Math.min(offset + length, this.oldSize);
    if (end > offset) this.saved.push({ offset, bytes: readAt(this.fd, end - offset, offset) });
  }

  /** Old bytes saved elsewhere (by a crypto worker, from the part of a write that failed). */
  adopt(saved: readonly SavedBytes[]): void {
    this.saved.push(...saved);
  }

  write(data: Buffer, offset: number): void {
    this.save(offset, data.length);
    writeAt(this.fd, data, offset);
  }

  truncate(size: number): void {
    truncateFd(this.fd, size);
  }

  /**
   * Puts the file back as it was; returns what could not be done yet (to try again before the
   * file's next operation), or undefined when the file is whole again.
   */
  rollback(): (Repair & { error: unknown }) | undefined {
    return repairFile(this.fd, { truncateTo: this.oldSize, undo: this.saved, reservedEnd: this.reservedEnd });
  }
}

/**
 * Carries out a repair: cut back to the old size when the file grew, give back reserved
 * space past it, restore the saved bytes below it. Returns what is left (undefined: done).
 */
export function repairFile(fd: number, repair: Repair): (Repair & { error: unknown }) | undefined {
  const { truncateTo, reservedEnd } = repair;
  if (truncateTo !== undefined) {
    try {
      if (fstatSync(fd).size > truncateTo) truncateFd(fd, truncateTo);
    } catch (error) {
      return { ...repair, error };
    }
    if (reservedEnd !== undefined) releaseBeyond(fd, truncateTo, reservedEnd - truncateTo);
  }
  const { left, error } = restoreSaved(fd, repair.undo, truncateTo ?? Number.MAX_SAFE_INTEGER);
  return left.length > 0 ? { ...repair, undo: left, error } : undefined;
}
