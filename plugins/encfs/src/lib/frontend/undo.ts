import { fstatSync } from 'node:fs';
import { preallocate, readAt, releaseBeyond, restoreSaved, truncateFd, writeAt, zeroRange, type SavedBytes } from './io.js';

/**
 * What is left to do to put a backing file right after writes that failed: cut it back to
 * `truncateTo` (freeing what they added), keep it at least `growTo` long, make `holes` read as
 * zeros, then restore the old bytes they overwrote. Kept on the open file and retried before
 * anything else touches it, until it succeeds.
 */
export interface Repair {
  truncateTo?: number;
  undo: SavedBytes[];
  /** Where space reserved for the writes ends (given back past `truncateTo`). */
  reservedEnd?: number;
  /**
   * The size the file must keep: appends written behind were answered before they failed,
   * and the kernel has their end as the file's size (it learns no smaller one by itself).
   */
  growTo?: number;
  /** Ranges of such appends that become holes (all-zero blocks, which read as zeros). */
  holes?: ReadonlyArray<{ offset: number; length: number }>;
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
 * space past it, grow it to the size it must keep, zero the holes, restore the saved bytes
 * below the cut. None of it needs new space: a cut and a grow do not, and zeros and old bytes
 * are written only to pages that differ, which failed writes changed, so they hold their
 * space. Returns what is left (undefined: done).
 */
export function repairFile(fd: number, repair: Repair): (Repair & { error: unknown }) | undefined {
  const { truncateTo, reservedEnd, growTo } = repair;
  const cut = truncateTo === undefined ? undefined : Math.max(truncateTo, growTo ?? 0);
  try {
    const size = fstatSync(fd).size;
    if (cut !== undefined && size > cut) truncateFd(fd, cut);
    else if (growTo !== undefined && size < growTo) truncateFd(fd, growTo);
  } catch (error) {
    return { ...repair, error };
  }
  if (cut !== undefined && reservedEnd !== undefined) releaseBeyond(fd, cut, reservedEnd - cut);
  const holes = [...(repair.holes ?? [])];
  while (holes.length > 0) {
    const { offset, length } = holes[0]!;
    try {
      zeroRange(fd, offset, length);
    } catch (error) {
      return { ...repair, holes, error };
    }
    holes.shift();
  }
  const { left, error } = restoreSaved(fd, repair.undo, cut ?? Number.MAX_SAFE_INTEGER);
  const { holes: _done, ...rest } = repair;
  return left.length > 0 ? { ...rest, undo: left, error } : undefined;
}
