import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, openSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { assertContent, contentOf, onFaultyDisk, onSmallDisk, outcome, patched, resized, writeAll, type Disk, type Fault } from './disks.js';

/**
 * A write that fails never destroys what was there before it: ENOSPC on a full disk, EIO or
 * EDQUOT from a failing one, at any offset and size, aligned or not, appending or overwriting,
 * padding, read-modify-write, header, truncation that extends. Afterwards the file holds its
 * old bytes everywhere the write was not reported done, also after a remount, and gocryptfs
 * -fsck finds the CIPHERDIR clean. (A pass-through directory behaves so; kmx enc used to cut a
 * 9-byte file to 0 bytes, and a 10,000-byte one to 8,192, when an append or overwrite hit a
 * full disk.)
 */

const BLOCK = 4096;

/** One operation that is to fail, on a file that holds `before`. */
interface Case {
  name: string;
  before: Buffer;
  /** Makes the file (default: writes `before`). */
  make?: (path: string) => void;
  /** Needs no new space, so a full disk cannot fail it (only a failing one can). */
  inPlace?: boolean;
  /**
   * Does it on `path`; returns the first failure's errno name and the content the file must
   * hold after it, or (a failure reported only later) a check of what it holds.
   */
  act(path: string): { error: string | undefined; expected: Buffer } | { error: string | undefined; accept: (actual: Buffer) => void };
}

/** Larger than one FUSE write request on either engine (libfuse3 1 MiB, fuse-native 128 KiB). */
const SEVERAL_REQUESTS = 2 * 1024 * 1024 + 5000;

/**
 * Writes `data` at `position` (null: O_APPEND) the way a program does, then fsync and close.
 * The file must then hold the old bytes with what write(2) reported written. If fsync or close
 * report a failure (of a write answered earlier and lost behind, as failed writeback), the
 * file is as long as write(2) said (the old size, or the end of what it reported written,
 * whichever is larger), every byte outside what write(2) reported is old, and every byte
 * inside it old, new or zero (a lost part is a hole).
 *
 * Why not the old bytes alone after such a failure, as this model once said for writes of one
 * request: a write(2) that was answered made the kernel raise the file's size to its end, and
 * the kernel shrinks it again only when it next asks the server for attributes (a stat), not
 * for a read, which at most trims it racily at a short reply (kmx's engines send no
 * invalidation notices). A file cut back to its old size
 * under that cached size read, right after the failure was reported, as longer than it was
 * (zeros up to some read-ahead boundary) and, after a remount, as its old size: what the
 * application saw after the report was not the final state. A local disk keeps a file's size
 * after failed writeback too.
 */
function writeCase(name: string, before: Buffer | Holey, data: Buffer, position: number | null): Case {
  return {
    name,
    ...(before instanceof Holey ? { before: before.content, make: (path: string) => before.make(path) } : { before }),
    act: (path) => {
      const fd = openSync(path, position === null ? 'a' : 'r+');
      const written = writeAll(fd, data, position);
      const synced = outcome(() => fsyncSync(fd));
      const closed = outcome(() => closeSync(fd));
      const late = [synced, closed].find((o) => o !== 'OK');
      const old = before instanceof Holey ? before.content : before;
      const error = written.error ?? late;
      if (!late) return { error, expected: patched(old, data.subarray(0, written.done), position ?? old.length) };
      const at = position ?? old.length;
      const reported = at + written.done;
      return {
        error,
        accept: (actual) => {
          assert.equal(actual.length, Math.max(old.length, reported), `${actual.length} bytes after a failed write from ${at} of ${data.length} bytes (${written.done} reported written) to ${old.length}`);
          for (let i = 0; i < actual.length; i++) {
            const was = i < old.length ? old[i] : 0;
            const inside = i >= at && i < reported;
            if (actual[i] !== was && !(inside && (actual[i] === 0 || actual[i] === data[i - at]))) assert.fail(`byte ${i} is ${actual[i]}: not the old ${was}${inside ? `, the new ${data[i - at]} or a hole` : ''}`);
          }
        },
      };
    },
  };
}

function truncateCase(name: string, before: Buffer, size: number): Case {
  return {
    name,
    before,
    act: (path) => {
      const fd = openSync(path, 'r+');
      const error = outcome(() => ftruncateSync(fd, size));
      const synced = outcome(() => fsyncSync(fd));
      closeSync(fd);
      const expected = error === 'OK' ? resized(before, size) : before;
      return { error: error === 'OK' ? (synced === 'OK' ? undefined : synced) : error, expected };
    },
  };
}

/**
 * Runs `cases` one file each (made first, while the disk works), with `failing` making the disk
 * fail around each operation, then checks every file again after a remount, and the CIPHERDIR
 * with gocryptfs -fsck. Every case is run and checked; the test fails naming each that went wrong.
 */
async function failEach(disk: Disk, cases: readonly Case[], expectedError: string, failing: (run: () => void) => void): Promise<void> {
  const expected = new Map<string, Buffer>();
  const problems: string[] = [];
  const check = (name: string, body: () => void): void => {
    try {
      body();
    } catch (err) {
      problems.push(`${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  };
  await disk.mounted(async ({ mnt }) => {
    cases.forEach((c, i) => {
      const path = join(mnt, `f${i}`);
      if (c.make) c.make(path);
      else writeFileSync(path, c.before);
      const fd = openSync(path, 'r');
      fsyncSync(fd);
      closeSync(fd);
    });
    cases.forEach((c, i) => check(c.name, () => {
      const path = join(mnt, `f${i}`);
      let result: ReturnType<Case['act']> | undefined;
      failing(() => {
        result = c.act(path);
      });
      const actual = contentOf(path);
      // What reading shows is what the server holds: the size the kernel had cached, too.
      assert.equal(statSync(path).size, actual.length, `right after: read ${actual.length} bytes, stat says ${statSync(path).size}`);
      expected.set(`f${i}`, 'expected' in result! ? result.expected : actual);
      assert.equal(result!.error, expectedError, `the operation must fail with ${expectedError}, not ${result!.error ?? 'succeed'}`);
      if ('expected' in result!) assertContent(actual, result.expected, 'right after');
      else result!.accept(actual);
    }));
  });
  // After a remount: the same bytes, and a CIPHERDIR that gocryptfs finds clean.
  await disk.mounted(async ({ mnt }) => {
    assert.deepEqual(readdirSync(mnt).sort(), cases.map((_, i) => `f${i}`).sort());
    cases.forEach((c, i) => check(c.name, () => assertContent(contentOf(join(mnt, `f${i}`)), expected.get(`f${i}`) ?? c.before, 'after a remount')));
  });
  const fsck = await disk.fsck();
  if (fsck.code !== 0) problems.push(`gocryptfs -fsck exit ${fsck.code}: ${fsck.stdout}${fsck.stderr}`);
  assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join('\n')}`);
}

/**
 * A file with data at both ends and holes between (made by truncating up): writing into the
 * holes needs new space, on any disk.
 */
class Holey {
  readonly content: Buffer;
  private readonly head = randomBytes(2 * BLOCK);
  private readonly tail = randomBytes(2 * BLOCK);

  constructor(readonly size: number) {
    this.content = Buffer.alloc(size);
    this.head.copy(this.content, 0);
    this.tail.copy(this.content, size - this.tail.length);
  }

  make(path: string): void {
    const fd = openSync(path, 'w');
    try {
      ftruncateSync(fd, this.size);
      writeAll(fd, this.head, 0);
      writeAll(fd, this.tail, this.size - this.tail.length);
    } finally {
      closeSync(fd);
    }
  }
}

const nine = Buffer.from('ninebytes');
const ten = randomBytes(10_000);
const five = randomBytes(5000);
const big = randomBytes(200 * 1024);
const holey = new Holey(200 * 1024);

/** Every way a write reaches the backing file: inline and in the workers, in place and behind, padding, read-modify-write, header, truncation. */
function allCases(): Case[] {
  return [
    writeCase('append 40 KB to a 9-byte file (O_APPEND)', nine, randomBytes(40_000), null),
    writeCase('pwrite 40 KB at the end of a 9-byte file', nine, randomBytes(40_000), nine.length),
    writeCase('overwrite a 10,000-byte file at offset 5 with 40,000 bytes', ten, randomBytes(40_000), 5),
    { ...writeCase('100 bytes inside a block (read-modify-write)', ten, randomBytes(100), 5000), inPlace: true },
    writeCase('100 bytes across a data block and a hole (read-modify-write of both)', holey, randomBytes(100), 2 * BLOCK - 50),
    writeCase('100 bytes past the end (padding the last block)', five, randomBytes(100), 20_000),
    writeCase('64 KiB at a block boundary over the partial last block', five, randomBytes(65_536), BLOCK),
    writeCase('64 KiB over whole blocks (written behind)', holey, randomBytes(65_536), 16 * BLOCK),
    writeCase('64 KiB appended at a block boundary (written behind)', big, randomBytes(65_536), null),
    writeCase('2 MiB + 5,000 bytes at the end, on a block boundary (several requests, written behind)', big, randomBytes(SEVERAL_REQUESTS), big.length),
    writeCase('31 blocks, unaligned, over old data and holes (in the workers)', holey, randomBytes(31 * BLOCK + 100), 1000),
    writeCase('100 bytes to an empty file (the header)', Buffer.alloc(0), randomBytes(100), 0),
    writeCase('64 KiB to an empty file (header, written behind)', Buffer.alloc(0), randomBytes(65_536), 0),
    truncateCase('truncate 5,000 bytes up to 9,000', five, 9000),
    truncateCase('truncate 5,000 bytes up to 1,000,000 (padding, then holes)', five, 1_000_000),
    truncateCase('truncate 5,000 bytes up to 1,000,001', five, 1_000_001),
    { ...truncateCase('truncate 10,000 bytes down to 3,000 (rewriting the new last block)', ten, 3000), inPlace: true },
  ];
}

/** The cases a full disk can fail. */
function needingSpace(): Case[] {
  return allCases().filter((c) => !c.inPlace);
}

describe('kmx enc: a failed write keeps the old data', () => {
  it('on a full disk (ENOSPC): every write shape, right after and after a remount; gocryptfs -fsck clean', () => onSmallDisk(5 << 20, async (disk) => {
    await failEach(disk, needingSpace(), 'ENOSPC', (run) => {
      disk.fill();
      try {
        run();
      } finally {
        disk.free();
      }
    });
  }));

  it('on a full disk without preallocation (the undo alone): the same', () => onSmallDisk(5 << 20, async (disk) => {
    const preallocOff = { KMX_ENC_PREALLOCATE: '0' };
    const mounted = disk.mounted.bind(disk);
    const withoutPrealloc: Disk = { ...disk, mounted: (body) => mounted(body, preallocOff) };
    await failEach(withoutPrealloc, needingSpace(), 'ENOSPC', (run) => {
      disk.fill();
      try {
        run();
      } finally {
        disk.free();
      }
    });
  }));

  for (const tear of [false, true]) {
    it(`on a disk that fails with EIO in the middle of a write${tear ? ' and tears it' : ''}: the same`, () => onFaultyDisk(async (disk) => {
      // A short write is retried by the kernel once before the writer sees it: fail that retry too.
      const fault: Fault = { code: 'EIO', budget: 100, tear, failures: tear ? 1 : 2 };
      await failEach(disk, allCases(), 'EIO', (run) => {
        disk.fault(fault);
        try {
          run();
        } finally {
          disk.fault(undefined);
        }
      });
    }));
  }

  it('on a disk whose quota is used up (EDQUOT at the first byte)', () => onFaultyDisk(async (disk) => {
    await failEach(disk, allCases().slice(0, 4), 'EDQUOT', (run) => {
      disk.fault({ code: 'EDQUOT', budget: 0 });
      try {
        run();
      } finally {
        disk.fault(undefined);
      }
    });
  }));

  it('an undo that fails too is retried before the next operation, until the file is whole again', () => onFaultyDisk(async (disk) => {
    await disk.mounted(async ({ mnt, output }) => {
      const path = join(mnt, 'f');
      writeFileSync(path, ten);
      const fd = openSync(path, 'r+');
      try {
        // The write tears its block; the two undo attempts after it fail too; then the disk recovers.
        disk.fault({ code: 'EIO', budget: 1000, tear: true, failures: 3 });
        assert.equal(writeAll(fd, randomBytes(3000), 3000).error, 'EIO');
        assert.equal(outcome(() => fsyncSync(fd)), 'EIO', 'the second undo fails: fsync says so');
        assert.equal(outcome(() => fsyncSync(fd)), 'OK', 'the third undo works');
        assertContent(contentOf(path), ten, 'after the undo');
        for (let i = 0; i < 100 && !/could not yet undo a failed write/.test(output()); i++) await sleep(50);
        assert.match(output(), /could not yet undo a failed write/);
      } finally {
        disk.fault(undefined);
        closeSync(fd);
      }
    });
    const fsck = await disk.fsck();
    assert.equal(fsck.code, 0, `gocryptfs -fsck: ${fsck.stdout}${fsck.stderr}`);
  }));
});
