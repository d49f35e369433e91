// A worker thread that keeps swapping directories inside a served root for symlinks that
// point outside it (renameat2 RENAME_EXCHANGE: the name always exists, as a directory or a
// link), to race the server's checks against its uses. Controlled through shared memory:
//   ctl[0]  0 run, 1 pause requested, 2 stop
//   ctl[1]  1 while paused (the worker's acknowledgement)
//   ctl[2]  exchanges done so far
import { parentPort, workerData } from 'node:worker_threads';
import { libc } from '@kmx/core';

export interface SwapWorkerData {
  ctl: SharedArrayBuffer;
  /** Pairs of absolute paths [directory, symlink] to exchange again and again. */
  pairs: Array<[string, string]>;
}

const RENAME_EXCHANGE = 2;
const { ctl: shared, pairs } = workerData as SwapWorkerData;
const ctl = new Int32Array(shared);
const idle = new Int32Array(new SharedArrayBuffer(4));

for (;;) {
  const state = Atomics.load(ctl, 0);
  if (state === 2) break;
  if (state === 1) {
    Atomics.store(ctl, 1, 1);
    Atomics.notify(ctl, 1);
    Atomics.wait(ctl, 0, 1, 1000);
    continue;
  }
  Atomics.store(ctl, 1, 0);
  for (const [a, b] of pairs) {
    try {
      libc.renameat2(libc.AT_FDCWD, a, libc.AT_FDCWD, b, RENAME_EXCHANGE);
      Atomics.add(ctl, 2, 1);
    } catch {
      // the client moved or removed one of them: the next reset puts them back
    }
  }
  // A short breath (50 µs): the machine has two cores, shared with the server and the client.
  Atomics.wait(idle, 0, 0, 0.05);
}
parentPort?.postMessage('stopped');
