import { readSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { errnoName, errnoOf } from '@kmx/core';
import { ContentEnc, CorruptBlockError, PLAIN_BLOCK, type NonceSource } from '../contentenc/index.js';
import { CryptoCore, RandomPool } from '../cryptocore/index.js';
import { blockNonces, pathIv } from '../pathiv/index.js';
import type { Job, Reply, ToWorker, WorkerData } from './protocol.js';

// One crypto worker: jobs arrive one at a time and are done synchronously (this thread has
// nothing else to do), including the pread/pwrite; data comes and goes through the shared
// arena, so nothing large is copied through messages or left for the main thread's GC.

const setup = workerData as WorkerData;
const core = new CryptoCore(Buffer.from(setup.master), { aesSiv: setup.aesSiv, hkdf: setup.hkdf });
const content = new ContentEnc(core.aead);
const random = new RandomPool();
const randomNonces: NonceSource = (_first, count) => random.take(count * core.aead.nonceBytes);
const arena = Buffer.from(setup.arena);
/** Reused for what is read from disk or sealed for it: a job never outlives the next one. */
let scratch = Buffer.allocUnsafe(setup.slotBytes + PLAIN_BLOCK);

function slot(index: number): Buffer {
  return arena.subarray(index * setup.slotBytes, (index + 1) * setup.slotBytes);
}

function scratchOf(length: number): Buffer {
  if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
  return scratch;
}

function readFully(fd: number, length: number, position: number): Buffer {
  const into = scratchOf(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, into, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return into.subarray(0, done);
}

function writeFully(fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** pread into `into` until it is full or the file ends; the bytes read. */
function readInto(fd: number, into: Buffer, position: number): number {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** A failed write whose old bytes wait in the slot (`saved` of them) to be restored. */
class WriteFailed extends Error {
  constructor(readonly reason: unknown, readonly saved: number) {
    super(reason instanceof Error ? reason.message : String(reason));
  }
}

/** Runs a job; returns the bytes it left in its slot. */
function run(job: Job): number {
  const layout = content.layout;
  switch (job.op) {
    case 'decrypt': {
      const cipher = readFully(job.fd, job.count * layout.cipherBlock, layout.cipherOffsetOf(job.first));
      return content.decryptBlocks(cipher, job.first, Buffer.from(job.fileId, 'hex'), slot(job.slot)).length;
    }
    case 'encrypt': {
      const plain = slot(job.slot).subarray(0, job.length);
      const sealed = content.encryptBlocks(plain, job.first, Buffer.from(job.fileId, 'hex'), randomNonces, scratchOf(content.sealedLength(job.length)));
      const at = layout.cipherOffsetOf(job.first);
      // The plaintext is sealed: the slot now keeps the old bytes this write replaces.
      const saved = job.keep > at ? readInto(job.fd, slot(job.slot).subarray(0, Math.min(sealed.length, job.keep - at)), at) : 0;
      try {
        writeFully(job.fd, sealed, at);
      } catch (err) {
        throw new WriteFailed(err, saved);
      }
      return 0;
    }
    case 'reverse': {
      const plain = readFully(job.fd, job.count * PLAIN_BLOCK, job.first * PLAIN_BLOCK);
      return content.encryptBlocks(plain, job.first, pathIv(job.cPath, 'FILEID'), blockNonces(job.cPath), slot(job.slot)).length;
    }
  }
}

parentPort!.on('message', (message: ToWorker) => {
  if (message.op === 'close') {
    // The mount is over: free the native cipher contexts, then let the thread end.
    core.dispose();
    parentPort!.close();
    return;
  }
  let reply: Reply;
  try {
    reply = { id: message.id, ok: true, length: run(message) };
  } catch (err) {
    if (err instanceof CorruptBlockError) reply = { id: message.id, ok: false, corrupt: { blockNo: err.blockNo, reason: err.reason }, message: err.message };
    else {
      const saved = err instanceof WriteFailed ? err.saved : 0;
      const cause = err instanceof WriteFailed ? err.reason : err;
      // By the errno's number: Node names some errnos (EDQUOT among them) 'UNKNOWN'.
      const errno = errnoOf(cause);
      reply = { id: message.id, ok: false, ...(errno !== undefined ? { code: errnoName(errno) } : {}), message: cause instanceof Error ? cause.message : String(cause), ...(saved > 0 ? { saved } : {}) };
    }
  }
  parentPort!.postMessage(reply);
});
