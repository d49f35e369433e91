import * as fs from 'node:fs';
import { SysError, libc } from '@kmx/core';

// Small transfers are done synchronously: on a local disk a pread/pwrite of a few blocks takes
// microseconds, less than a round trip through libuv's thread pool (which under load costs a
// thread wakeup and an event-loop turn). Large transfers go to the crypto workers instead.

/** pread until `length` bytes or end of file; a fresh buffer of the bytes read. */
export function readAt(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/** pwrite all of `data`. */
export function writeAt(fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length;) done += fs.writeSync(fd, data, done, data.length - done, position + done);
}

export function truncateFd(fd: number, length: number): void {
  fs.ftruncateSync(fd, length);
}

/** Errnos of a filesystem that cannot preallocate: the write then goes ahead without. */
const UNSUPPORTED = new Set([95 /* EOPNOTSUPP */, 38 /* ENOSYS */]);

/** $KMX_ENC_PREALLOCATE=0 turns preallocation off (gocryptfs's -noprealloc): writes then rely on their undo alone. */
export const PREALLOCATE = process.env.KMX_ENC_PREALLOCATE !== '0';

/**
 * Reserves the space of a write before it starts (fallocate KEEP_SIZE, as gocryptfs does), so
 * that a full disk or quota fails it (ENOSPC, EDQUOT) before any byte of the file changed.
 * Filesystems without fallocate are skipped: the write's undo covers them.
 */
export function preallocate(fd: number, offset: number, length: number): void {
  if (!PREALLOCATE || length <= 0) return;
  try {
    libc.fallocate(fd, libc.FALLOC_FL_KEEP_SIZE, offset, length);
  } catch (err) {
    if (err instanceof SysError && UNSUPPORTED.has(err.errno)) return;
    throw err;
  }
}

/** Gives back space in [offset, offset+length) (a hole that keeps the size; best effort): reserved past the end by a write that failed, or written by one. */
export function releaseBeyond(fd: number, offset: number, length: number): void {
  if (length <= 0) return;
  try {
    libc.punchHole(fd, offset, length);
  } catch {
    // Nothing was reserved (no fallocate here), or the space stays reserved until the file shrinks.
  }
}

/**
 * Makes [offset, offset+length) of a backing file read as zeros without new space: the space
 * is given back where the filesystem can punch holes, and zeros are written only over pages
 * that still differ (a failed write wrote them, so they hold their space).
 */
export function zeroRange(fd: number, offset: number, length: number): void {
  if (length <= 0) return;
  releaseBeyond(fd, offset, length);
  const left = restoreSaved(fd, [{ offset, bytes: Buffer.alloc(length) }], Number.MAX_SAFE_INTEGER);
  if (left.left.length > 0) throw left.error;
}

/** Bytes of a backing file as they were before an operation overwrote them. */
export interface SavedBytes {
  offset: number;
  bytes: Buffer;
}

/** Restores are compared and written page by page: a page that differs was written, so it has its space. */
const PAGE = 4096;

/**
 * Puts saved bytes back, newest first (so that where two overlap, the older one wins), only
 * below `limit` and only where the file now differs: the pages a failed write changed, which
 * hold their space already, so restoring needs none even on a full disk. Returns what could
 * not be restored yet (a failing disk), oldest first, to try again later.
 */
export function restoreSaved(fd: number, saved: readonly SavedBytes[], limit: number): { left: SavedBytes[]; error?: unknown } {
  for (let i = saved.length - 1; i >= 0; i--) {
    const { offset, bytes } = saved[i]!;
    const end = Math.min(offset + bytes.length, limit);
    if (end <= offset) continue;
    try {
      const now = readAt(fd, end - offset, offset);
      let from = offset;
      while (from < end) {
        const to = Math.min(end, (Math.floor(from / PAGE) + 1) * PAGE);
        const old = bytes.subarray(from - offset, to - offset);
        const current = now.subarray(from - offset, to - offset);
        if (current.length !== old.length || !current.equals(old)) writeAt(fd, old, from);
        from = to;
      }
    } catch (error) {
      return { left: saved.slice(0, i + 1), error };
    }
  }
  return { left: [] };
}
