import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Every chunk a client reads off its transport (up to 64 KiB from a socket or a pipe) is a new
 * buffer, garbage once parsed. V8 gives such memory back only at a scavenge, which the few
 * small objects made per chunk trigger rarely, or once external memory has grown by 64 MiB;
 * meanwhile glibc's heap grows, and a new page is dear on this kind of VM (~11 µs). A scavenge
 * every 4 MiB read keeps that garbage small. Measured on kmx sftp, ten interleaved pairs: CPU
 * of a fresh mount's first 256 MiB read 600 instead of 650 ms, of a sustained one 390 instead
 * of 440; the process's peak memory 165 MiB instead of 193–207.
 */
const EVERY_BYTES = 4 * 1024 * 1024;

type Gc = (options: { type: 'minor' }) => void;

let gc: Gc | null | undefined;

/** V8's gc(), made available once, as Node documents for v8.setFlagsFromString; null if it cannot be. */
function exposedGc(): Gc | null {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as Gc;
    } catch {
      gc = null;
    }
  }
  return gc;
}

export class Scavenger {
  private bytes = 0;

  constructor(private readonly every = EVERY_BYTES) {}

  /** Counts `n` bytes read; runs a scavenge (a minor GC) each time `every` have been read. */
  read(n: number): void {
    this.bytes += n;
    if (this.bytes < this.every) return;
    this.bytes = 0;
    exposedGc()?.({ type: 'minor' });
  }
}
