// The confinement suite's race: a raw client of kmx sftp serve while the swap worker
// (swap-worker.ts) keeps exchanging directories inside the root for symlinks out.
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { RawSftp, type RawServeOptions } from './raw-sftp.js';
import type { SwapWorkerData } from './swap-worker.js';

export interface SwapWorker {
  pause(): Promise<void>;
  resume(): void;
  exchanges(): number;
  stop(): Promise<void>;
}

function startSwapWorker(pairs: Array<[string, string]>): SwapWorker {
  const ctl = new Int32Array(new SharedArrayBuffer(12));
  const data: SwapWorkerData = { ctl: ctl.buffer as SharedArrayBuffer, pairs };
  const worker = new Worker(new URL('./swap-worker.js', import.meta.url), { workerData: data });
  let failure: Error | undefined;
  worker.on('error', (err) => (failure = err));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async pause() {
      Atomics.store(ctl, 0, 1);
      while (Atomics.load(ctl, 1) !== 1) {
        if (failure) throw failure;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    },
    resume() {
      Atomics.store(ctl, 1, 0);
      Atomics.store(ctl, 0, 0);
      Atomics.notify(ctl, 0);
    },
    exchanges: () => Atomics.load(ctl, 2),
    async stop() {
      Atomics.store(ctl, 0, 2);
      Atomics.notify(ctl, 0);
      const timer = setTimeout(() => void worker.terminate(), 2_000);
      await exited;
      clearTimeout(timer);
      if (failure) throw failure;
    },
  };
}

/**
 * Runs `body` with a raw client of `kmx sftp serve --root root` and the swap worker racing it.
 * Both are stopped whatever happens (the server by pid if it does not end with its input); a
 * server that did not end cleanly fails the test, unless `body` failed first.
 */
export async function racing<T>(root: string, pairs: Array<[string, string]>, options: RawServeOptions, body: (client: RawSftp, swapper: SwapWorker) => Promise<T>): Promise<T> {
  const client = await RawSftp.start(root, options);
  let swapper: SwapWorker | undefined;
  let result: T;
  try {
    swapper = startSwapWorker(pairs);
    result = await body(client, swapper);
  } catch (err) {
    await swapper?.stop().catch(() => undefined);
    await client.stop().catch(() => undefined);
    throw err;
  }
  await swapper.stop();
  assert.equal(await client.stop(), 0, `serve ended cleanly; stderr: ${client.stderr}`);
  return result;
}

