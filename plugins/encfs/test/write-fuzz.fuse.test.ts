import assert from 'node:assert/strict';
import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { contentOf, onFaultyDisk, onSmallDisk, outcome, randomSource, resized, type Disk } from './disks.js';

/**
 * Random sequences of pwrite, O_APPEND writes, truncate and fsync on two files, while the disk
 * fills up and frees at random points (a tmpfs, with and without preallocation) or fails at
 * random points (EIO, EDQUOT, ENOSPC, torn writes, undo attempts that fail too). A reference
 * model follows every operation that succeeded. After each failure, and after every remount,
 * every byte outside what the operations since the last successful fsync touched equals the
 * model; a failed write alone may have left, inside its own range, only old bytes or its own;
 * the file is as long as the operations reported (a failed write neither shrinks nor grows
 * it); gocryptfs -fsck finds the CIPHERDIR clean.
 *
 * KMX_FUZZ_RUNS (default 1) runs each kind that many times with new seeds, KMX_FUZZ_OPS (default
 * 160) sets the operations per run, KMX_FUZZ_SEED repeats a run (its seed is in every failure).
 */

const RUNS = positive(process.env.KMX_FUZZ_RUNS, 1);
const OPS = positive(process.env.KMX_FUZZ_OPS, 160);
const SEED = process.env.KMX_FUZZ_SEED === undefined ? (Date.now() ^ (process.pid << 8)) >>> 0 : Number(process.env.KMX_FUZZ_SEED);
const BLOCK = 4096;
/** Files stay about this small, so that a few fit on the small disk with room to fill. */
const MAX_FILE = 400 * 1024;

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

type Random = ReturnType<typeof randomSource>;

/** An operation since the last point where the file was known to match the model. */
interface Op {
  what: string;
  /** The plaintext range it touched (a truncate: between the old and the new size). */
  start: number;
  end: number;
  /** A write that failed: its data, to tell its own bytes from others. */
  data?: Buffer;
  failed: boolean;
  truncate: boolean;
  /** An O_APPEND write: it lands at the end of the file as kmx has it (see check). */
  append?: boolean;
}

/** One file under test: its descriptors through the mount and its model. */
class Subject {
  /** What the file held at the last point it was checked. */
  committed: Buffer = Buffer.alloc(0);
  /** committed with every operation since that succeeded. */
  model: Buffer = Buffer.alloc(0);
  ops: Op[] = [];
  rw = -1;
  append = -1;

  constructor(readonly name: string, readonly path: string) {}

  open(): void {
    this.rw = openSync(this.path, 'r+');
    this.append = openSync(this.path, 'a');
  }

  /** Closes both descriptors; the errno name of a close that reported a failure, or 'OK'. */
  close(): string {
    const results = [outcome(() => closeSync(this.rw)), outcome(() => closeSync(this.append))];
    return results.find((r) => r !== 'OK') ?? 'OK';
  }
}

interface Kind {
  name: string;
  /** The disk for a whole test. */
  disk: <T>(body: (disk: Disk, trouble: Trouble) => Promise<T>) => Promise<T>;
  /** Errnos an operation may fail with. */
  errors: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** After a failure the disk recovers (its fault ends): the failing disk. A full disk stays full. */
  recovers?: boolean;
}

/** Makes the disk fail (or fill), and stops that. */
interface Trouble {
  start(random: Random): string;
  stop(): void;
}

const kinds: Kind[] = [
  {
    name: 'a disk that fills up (tmpfs)',
    disk: (body) => onSmallDisk(4 << 20, (disk) => body(disk, fillingTrouble(disk))),
    errors: ['ENOSPC'],
  },
  {
    name: 'a disk that fills up, without preallocation (the undo alone)',
    disk: (body) => onSmallDisk(4 << 20, (disk) => body(disk, fillingTrouble(disk))),
    errors: ['ENOSPC'],
    env: { KMX_ENC_PREALLOCATE: '0' },
  },
  {
    name: 'a disk that fails (EIO, EDQUOT, ENOSPC; torn writes; failing undo)',
    disk: (body) => onFaultyDisk((disk) => body(disk, {
      start: (random) => {
        const fault = { code: random.pick(['EIO', 'EIO', 'EDQUOT', 'ENOSPC']), budget: random.pick([0, random.int(200), random.int(9000), random.int(60_000)]), tear: random.next() < 0.5, failures: random.pick([1, 1, 2, 3]) };
        disk.fault(fault);
        return `fault ${JSON.stringify(fault)}`;
      },
      stop: () => disk.fault(undefined),
    })),
    errors: ['EIO', 'EDQUOT', 'ENOSPC'],
    recovers: true,
  },
];

function fillingTrouble(disk: { fill(leave?: number): void; free(): void }): Trouble {
  return {
    start: (random) => {
      const leave = random.pick([0, 0, 0, BLOCK, 3 * BLOCK, 20_000, 70_000]);
      disk.fill(leave);
      return `fill, leaving ${leave}`;
    },
    stop: () => disk.free(),
  };
}

/**
 * Checks a file after a failure (or at a checkpoint, with no failure: then it must equal the
 * model exactly) and makes what it holds the new committed state.
 */
function check(s: Subject, context: string): void {
  const actual = contentOf(s.path);
  const { committed: old, ops } = s;
  const failed = ops.some((o) => o.failed);
  const where = `${s.name} after ${ops.map((o) => `${o.what}${o.failed ? ' (failed)' : ''}`).join(', ') || 'nothing'} [${context}]`;
  if (!failed) {
    assert.ok(actual.equals(s.model), `${where}: ${actual.length} bytes, the model ${s.model.length}; first difference at ${firstDifference(actual, s.model)}`);
  } else {
    // The file is as long as the operations reported: a write behind that failed after it was
    // answered (reported by the next fsync, as failed writeback) keeps the size the kernel was
    // told, its lost blocks holes, so an O_APPEND write after it lands where the model appends.
    const touched = (i: number): boolean => ops.some((o) => i >= o.start && i < o.end);
    assert.equal(actual.length, s.model.length, `${where}: ${actual.length} bytes, but the operations reported ${s.model.length}`);
    const only = ops.length === 1 ? ops[0]! : undefined;
    for (let i = 0; i < actual.length; i++) {
      const before = i < old.length ? old[i]! : 0;
      if (!touched(i)) {
        if (actual[i] !== before) assert.fail(`${where}: byte ${i} is ${actual[i]}, was ${before}, and no operation touched it`);
      } else if (only?.data && actual[i] !== before && actual[i] !== only.data[i - only.start]) {
        assert.fail(`${where}: byte ${i} is ${actual[i]}: neither the old ${before} nor the failed write's ${only.data[i - only.start]}`);
      }
    }
  }
  s.committed = actual;
  s.model = Buffer.from(actual);
  s.ops = [];
}

function firstDifference(a: Buffer, b: Buffer): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** fsync until it reports no failure (an undo that failed is retried by each); the errnos it gave. */
function settle(s: Subject, errors: readonly string[]): string[] {
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = outcome(() => fsyncSync(s.rw));
    if (r === 'OK') return seen;
    assert.ok(errors.includes(r), `fsync of ${s.name} failed with ${r}`);
    seen.push(r);
  }
  assert.fail(`fsync of ${s.name} kept failing: ${seen.join(', ')}`);
}

/** One random operation on `s`; returns the errno name if it failed. */
function operate(s: Subject, random: Random): string {
  const size = s.model.length;
  const roll = random.next();
  if (roll < 0.12) {
    // truncate: down, up within or past the last block, or to zero
    const to = random.pick([0, random.int(size + 1), size + 1 + random.int(BLOCK), size + random.int(120_000), Math.floor(random.int(size + 50_000) / BLOCK) * BLOCK]);
    const target = Math.min(to, MAX_FILE);
    const r = outcome(() => ftruncateSync(s.rw, target));
    s.ops.push({ what: `truncate ${size}→${target}`, start: Math.min(size, target), end: Math.max(size, target), failed: r !== 'OK', truncate: true });
    if (r === 'OK') s.model = resized(s.model, target);
    return r;
  }
  if (roll < 0.2) {
    const r = outcome(() => fsyncSync(s.rw));
    s.ops.push({ what: 'fsync', start: 0, end: 0, failed: r !== 'OK', truncate: false });
    return r;
  }
  const appending = roll < 0.4;
  const aligned = random.next() < 0.5;
  let length = random.pick([1 + random.int(64), 1 + random.int(8192), 8192 + random.int(160_000)]);
  let position = appending ? size : random.int(Math.min(size + 20_000, MAX_FILE));
  if (aligned) {
    length = Math.max(BLOCK, Math.floor(length / BLOCK) * BLOCK);
    if (!appending) position = Math.floor(position / BLOCK) * BLOCK;
  }
  if (position + length > MAX_FILE) length = Math.max(1, MAX_FILE - position);
  const data = random.bytes(length);
  let written = 0;
  let error = 'OK';
  try {
    written = appending ? writeSync(s.append, data) : writeSync(s.rw, data, 0, length, position);
  } catch (err) {
    error = outcome(() => {
      throw err;
    });
  }
  const what = `${appending ? 'append' : 'pwrite'} ${length}@${position}`;
  if (written > 0) {
    // A short write landed what it reports; the rest is simply not written.
    const grown = Buffer.alloc(Math.max(size, position + written));
    s.model.copy(grown);
    data.copy(grown, position, 0, written);
    s.model = grown;
    s.ops.push({ what: written < length ? `${what} (short: ${written})` : what, start: position, end: position + written, failed: false, truncate: false, append: appending });
  } else {
    s.ops.push({ what, start: position, end: position + length, data, failed: true, truncate: false, append: appending });
  }
  return error;
}

/** One run: random operations with trouble started and stopped at random, remounts in between; all checked. Returns how many failed. */
async function fuzz(disk: Disk, trouble: Trouble, kind: Kind, seed: number, run: number): Promise<number> {
  let failures = 0;
  const random = randomSource(seed);
  const subjects = ['a', 'b'].map((n) => `r${run}-${n}`);
  const models = new Map<string, Subject>();
  const log: string[] = [];
  const mount = <T>(body: (mnt: string) => Promise<T>): Promise<T> => disk.mounted(({ mnt }) => body(mnt), kind.env);
  const phase = async (mnt: string, ops: number): Promise<void> => {
    const files = subjects.map((name) => {
      const fresh = new Subject(name, join(mnt, name));
      const earlier = models.get(name);
      if (earlier) Object.assign(fresh, { committed: earlier.committed, model: earlier.model });
      else closeSync(openSync(fresh.path, 'w'));
      models.set(name, fresh);
      // After a remount: exactly what the last mount left.
      check(fresh, `seed ${seed}: after a remount`);
      fresh.open();
      return fresh;
    });
    let troubled = false;
    try {
      for (let step = 0; step < ops; step++) {
        if (random.next() < 0.15) {
          if (troubled) trouble.stop();
          troubled = !troubled || random.next() < 0.5;
          if (troubled) log.push(trouble.start(random));
        }
        const s = random.pick(files);
        const r = operate(s, random);
        log.push(`${s.name}: ${s.ops.at(-1)!.what} → ${r}`);
        if (r !== 'OK') {
          failures++;
          assert.ok(kind.errors.includes(r), `${s.name}: ${s.ops.at(-1)!.what} failed with ${r}, which ${kind.name} never gives`);
          if (kind.recovers) {
            trouble.stop(); // an undo that failed too is retried by the next fsync
            troubled = false;
          }
          for (const e of settle(s, kind.errors)) log.push(`${s.name}: fsync → ${e}`);
          check(s, `seed ${seed}, step ${step}; ${log.slice(-6).join(' | ')}`);
        } else if (random.next() < 0.04) {
          const errors = settle(s, kind.errors);
          if (errors.length > 0 && !s.ops.some((o) => o.failed)) s.ops.push({ what: `fsync (${errors.join(', ')})`, start: 0, end: 0, failed: true, truncate: false });
          check(s, `seed ${seed}, checkpoint at step ${step}`);
        }
      }
    } finally {
      trouble.stop();
    }
    for (const s of files) {
      const errors = settle(s, kind.errors);
      if (errors.length > 0 && !s.ops.some((o) => o.failed)) s.ops.push({ what: `fsync (${errors.join(', ')})`, start: 0, end: 0, failed: true, truncate: false });
      check(s, `seed ${seed}, end of a mount`);
      assert.equal(s.close(), 'OK', `closing ${s.name}`);
    }
  };
  try {
    await mount((mnt) => phase(mnt, Math.ceil(OPS / 2)));
    await fsckClean(disk, seed);
    await mount((mnt) => phase(mnt, Math.floor(OPS / 2)));
    await fsckClean(disk, seed);
    await mount(async (mnt) => {
      for (const name of subjects) {
        const s = models.get(name)!;
        const fresh = Object.assign(new Subject(name, join(mnt, name)), { committed: s.committed, model: s.model, ops: [] });
        check(fresh, `seed ${seed}: after the last remount`);
      }
    });
  } catch (err) {
    if (err instanceof Error) err.message += `\n(seed ${seed}; the last operations: ${log.slice(-12).join(' | ')})`;
    throw err;
  }
  return failures;
}

async function fsckClean(disk: Disk, seed: number): Promise<void> {
  const fsck = await disk.fsck();
  assert.equal(fsck.code, 0, `seed ${seed}: gocryptfs -fsck: ${fsck.stdout}${fsck.stderr}`);
}

describe('kmx enc: random writes on a failing disk never lose old data', () => {
  kinds.forEach((kind, k) => {
    it(`${kind.name}: ${RUNS} run(s) of ${OPS} operations`, (t) => kind.disk(async (disk, trouble) => {
      let failures = 0;
      for (let run = 0; run < RUNS; run++) {
        const seed = (SEED + k * 7919 + run * 104_729) >>> 0;
        const failed = await fuzz(disk, trouble, kind, seed, run);
        t.diagnostic(`run ${run}: seed ${seed}, ${failed} of ${OPS} operations failed`);
        failures += failed;
      }
      assert.ok(failures > 0, 'no operation failed: nothing was tested');
    }));
  });
});
