import assert from 'node:assert/strict';
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errnoName, errnoOf } from '@kmx/core';
import { run, temporaryDirectory, withTestMount, type RunResult, type TestMount } from '@kmx/core/testing';
import { gocryptfsFsck, mustKmxInit, withEnc } from './helpers.js';

// Disks that fail, for kmx enc's write-safety tests: a small tmpfs that can be filled (ENOSPC),
// and a pass-through mount whose writes fail on command (EIO, EDQUOT …; fixtures/faulty-disk).
// Each holds a CIPHERDIR; `mounted` serves its plaintext view with kmx enc for a body, as often
// as a test wants (a remount is the next `mounted`). Everything is unmounted and removed
// afterwards, whatever happens.

const FAULTY_DISK = fileURLToPath(new URL('./fixtures/faulty-disk.js', import.meta.url));

export interface Fault {
  code?: string;
  /** Bytes that still land before the fault. */
  budget?: number;
  /** Failing writes before the disk works again (default 1; -1: for good). */
  failures?: number;
  /** The write that crosses the budget lands its first part and fails anyway. */
  tear?: boolean;
}

export interface Disk {
  /** The CIPHERDIR, as kmx enc sees it. */
  readonly cipher: string;
  /** The CIPHERDIR on the disk itself (to check with gocryptfs; the same as `cipher` on tmpfs). */
  readonly backing: string;
  /** Serves the plaintext view for `body`; the server must end cleanly. `env` adds to the server's environment. */
  mounted<T>(body: (m: TestMount) => Promise<T>, env?: NodeJS.ProcessEnv): Promise<T>;
  /** gocryptfs -fsck of the CIPHERDIR (on the disk itself, around any fault). */
  fsck(): Promise<RunResult>;
}

export interface SmallDisk extends Disk {
  /** Fills the tmpfs up, leaving about `leave` bytes (whole pages) free. */
  fill(leave?: number): void;
  /** Frees what fill() took. */
  free(): void;
}

export interface FaultyDisk extends Disk {
  /** The next writes fail as `fault` says; undefined: no more faults. */
  fault(fault: Fault | undefined): void;
}

/** A CIPHERDIR on a tmpfs of `size` bytes. */
export function onSmallDisk<T>(size: number, body: (disk: SmallDisk) => Promise<T>): Promise<T> {
  return temporaryDirectory(async (dir) => {
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    const mounted = await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'kmxtest', disk]);
    assert.equal(mounted.code, 0, mounted.stderr);
    try {
      const cipher = join(disk, 'cipher');
      const filler = join(disk, 'fill');
      mkdirSync(cipher);
      await mustKmxInit([cipher]);
      return await body({
        cipher,
        backing: cipher,
        mounted: (inner, env) => withEnc({ args: ({ mnt }) => [cipher, mnt], ...(env ? { env } : {}) }, inner),
        fsck: () => gocryptfsFsck(cipher),
        fill: (leave = 0) => fillUp(filler, leave),
        free: () => rmSync(filler, { force: true }),
      });
    } finally {
      await run('umount', [disk]);
    }
  });
}

/** A CIPHERDIR on a disk whose writes fail on command. */
export function onFaultyDisk<T>(body: (disk: FaultyDisk) => Promise<T>): Promise<T> {
  return withTestMount({
    program: FAULTY_DISK,
    prepare: async ({ dir }) => {
      mkdirSync(join(dir, 'backing'));
      await mustKmxInit([join(dir, 'backing')]);
    },
    args: ({ dir, mnt }) => [join(dir, 'backing'), mnt, join(dir, 'fault.json')],
  }, (lower) => {
    const control = join(lower.dir, 'fault.json');
    const backing = join(lower.dir, 'backing');
    return body({
      cipher: lower.mnt,
      backing,
      mounted: (inner, env) => withEnc({ args: ({ mnt }) => [lower.mnt, mnt], ...(env ? { env } : {}) }, inner),
      fsck: () => gocryptfsFsck(backing),
      fault: (fault) => {
        writeFileSync(`${control}.new`, fault ? JSON.stringify(fault) : '');
        renameSync(`${control}.new`, control);
      },
    });
  });
}

function fillUp(filler: string, leave: number): void {
  const fd = openSync(filler, 'a');
  try {
    for (const chunk of [Buffer.alloc(65536), Buffer.alloc(4096)]) {
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if (errnoOf(err) !== 28) throw err;
          break;
        }
      }
    }
    if (leave > 0) ftruncateSync(fd, Math.max(0, fstatSync(fd).size - Math.ceil(leave / 4096) * 4096));
  } finally {
    closeSync(fd);
  }
}

/** The outcome of writing all of `data` the way a program does: pwrite until done or an error. */
export interface Written {
  /** Bytes the writes reported written. */
  done: number;
  /** The errno name of the write that failed, if one did. */
  error?: string;
}

/** pwrite (or, with position null, write to an O_APPEND descriptor) all of `data`, as far as it goes. */
export function writeAll(fd: number, data: Buffer, position: number | null): Written {
  let done = 0;
  while (done < data.length) {
    try {
      done += writeSync(fd, data, done, data.length - done, position === null ? null : position + done);
    } catch (err) {
      return { done, error: codeOf(err) };
    }
  }
  return { done };
}

/** The errno name of a failed call, or 'OK'. */
export function outcome(call: () => unknown): string {
  try {
    call();
    return 'OK';
  } catch (err) {
    return codeOf(err);
  }
}

/** The errno name of an error from a system call (Node names some, EDQUOT among them, 'UNKNOWN'). */
function codeOf(err: unknown): string {
  const errno = errnoOf(err);
  if (errno === undefined) throw err;
  return errnoName(errno);
}

/** A file's whole content through a fresh descriptor (the kernel's cached pages are dropped on open). */
export function contentOf(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let position = 0;
    for (;;) {
      const chunk = Buffer.alloc(1 << 20);
      const n = readSync(fd, chunk, 0, chunk.length, position);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      position += n;
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

/** Asserts that a file holds `expected`, naming the first byte that differs. */
export function assertContent(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  assert.fail(`${what}: ${actual.length} bytes, expected ${expected.length}; first difference at byte ${i}`);
}

/** `data` with `patch` at `position` (grown with zeros where it reaches past the end; an empty patch changes nothing). */
export function patched(data: Buffer, patch: Buffer, position: number): Buffer {
  if (patch.length === 0) return data;
  const out = Buffer.alloc(Math.max(data.length, position + patch.length));
  data.copy(out);
  patch.copy(out, position);
  return out;
}

/** `data` cut or grown with zeros to `size` bytes, as truncate(2) does. */
export function resized(data: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  data.copy(out, 0, 0, Math.min(size, data.length));
  return out;
}

/** Deterministic random numbers (mulberry32), so that a failing run can be repeated from its seed. */
export function randomSource(seed: number): { next(): number; int(below: number): number; pick<T>(items: readonly T[]): T; bytes(n: number): Buffer } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number): number => Math.floor(next() * below);
  return {
    next,
    int,
    pick: (items) => items[int(items.length)]!,
    bytes: (n) => {
      const out = Buffer.allocUnsafe(n);
      let i = 0;
      for (; i + 4 <= n; i += 4) out.writeUInt32LE(int(2 ** 32), i);
      for (; i < n; i++) out[i] = int(256);
      return out;
    },
  };
}
