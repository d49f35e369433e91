import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchResult } from './results.js';

/** bench/ in this checkout (this file is bench/dist/src/lib/workdir.js). */
export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Runs `body` in a fresh bench/.work/NAME, removed afterwards whatever happens. */
export async function inWorkDir<T>(name: string, body: (work: string) => Promise<T>): Promise<T> {
  const work = join(BENCH_DIR, '.work', name.replace(/\W+/g, '-'));
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    return await body(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** For a benchmark started on its own (`node bench/dist/src/NAME.js`): runs it and prints its results as JSON. */
export async function runIfMain(moduleUrl: string, name: string, run: (work: string) => Promise<BenchResult[]>): Promise<void> {
  if (moduleUrl !== pathToFileURL(process.argv[1] ?? '').href) return;
  console.log(JSON.stringify(await inWorkDir(name, run), null, 2));
}
