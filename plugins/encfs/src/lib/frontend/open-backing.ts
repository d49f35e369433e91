import * as fs from 'node:fs';
import { errnoOf, withUsablePath as on, type AsCaller, type Caller } from '@kmx/core';

const { O_RDWR, O_WRONLY, O_APPEND, O_TRUNC, O_CREAT, O_EXCL, O_NOCTTY, O_DIRECT } = fs.constants;
/** Flags the backing open must not get: appends and truncation are done block-wise here, O_DIRECT breaks unaligned access. */
const BACKING_DROPPED = O_APPEND | O_TRUNC | O_DIRECT | O_NOCTTY;
const O_ACCMODE = 3;

/**
 * Opens the backing file as the caller. Writers need to read too (read-modify-write of
 * partial blocks): write-only opens become read-write; if the caller may only write, the
 * file is opened by the server once the caller's own write-only open has proved the right.
 * O_TRUNC (done by the view, block-wise, not by the backing open) needs the right to write
 * whatever the access mode, as open(2) has it: O_RDONLY|O_TRUNC opens read-write as the
 * caller, so a caller who may only read gets EACCES and the file stays whole.
 */
export function openBacking(asCaller: AsCaller, cipherPath: string, flags: number, caller: Caller, mode = 0o644): number {
  let backing = flags & ~BACKING_DROPPED;
  if ((flags & O_ACCMODE) === O_WRONLY || (flags & O_TRUNC) !== 0) backing = (backing & ~O_ACCMODE) | O_RDWR;
  try {
    return asCaller.run(caller, () => on(cipherPath, (p) => fs.openSync(p, backing, mode)));
  } catch (err) {
    if (errnoOf(err) !== 13 || (flags & O_ACCMODE) !== O_WRONLY || process.getuid?.() !== 0) throw err;
    let proof: number;
    try {
      // The caller's own open, as asked (less O_TRUNC, done by the view): it creates nothing, so
      // one that was refused for creating (the directory is not theirs) keeps its EACCES.
      proof = asCaller.run(caller, () => on(cipherPath, (p) => fs.openSync(p, (flags & ~BACKING_DROPPED) & ~(O_CREAT | O_EXCL))));
    } catch {
      throw err;
    }
    fs.closeSync(proof);
    return on(cipherPath, (p) => fs.openSync(p, backing & ~(O_CREAT | O_EXCL)));
  }
}
