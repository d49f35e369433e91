import { cfn } from './library.js';

// mallopt(3) parameters.
const M_TRIM_THRESHOLD = -1;
const M_TOP_PAD = -2;
const M_MMAP_THRESHOLD = -3;

const MIB = 1024 * 1024;

/**
 * Makes glibc's malloc keep and reuse freed memory instead of handing it back at once. A
 * serving process allocates data buffers of 64 KiB to 1 MiB at a high rate (socket reads,
 * SSH packets, FUSE payloads) that V8 frees in batches at each GC; by default glibc maps the
 * larger ones afresh and trims the heap after every batch, so each new buffer is paid for in
 * page faults (a fresh kmx sftp mount took ~20,000 on its first 256 MiB read). Resident memory
 * then stays at its peak, up to 64 MiB of it free for reuse.
 */
export function keepFreedMemory(): void {
  const mallopt = cfn('int mallopt(int param, int value)');
  mallopt(M_MMAP_THRESHOLD, 4 * MIB);
  mallopt(M_TRIM_THRESHOLD, 64 * MIB);
  mallopt(M_TOP_PAD, 16 * MIB);
}
