import { readSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { ContentEnc, CorruptBlockError, PLAIN_BLOCK } from '../contentenc/index.js';
import { CryptoCore, RandomPool } from '../cryptocore/index.js';
import { blockNonces, pathIv } from '../pathiv/index.js';
import type { Job, Reply, WorkerData } from './protocol.js';

// One crypto worker: jobs arrive one at a time and are done synchronously (this thread has
// nothing else to do), including the pread/pwrite; data comes and goes through the shared
// arena, so nothing large is copied through messages or left for the main thread's GC.

const setup = workerData as WorkerData;
const core = new CryptoCore(Buffer.from(setup.master), { aesSiv: setup.aesSiv, hkdf: setup.hkdf });
const content = new ContentEnc(core.aead);
const random = new RandomPool();
const randomNonce = (): Buffer => random.take(core.aead.nonceBytes);
const arena = Buffer.from(setup.arena);
/** Reused for what is read from disk: a job never outlives the next one. */
let scratch = Buffer.allocUnsafe(setup.slotBytes + PLAIN_BLOCK);

function slot(index: number): Buffer {
  return arena.subarray(index * setup.slotBytes, (index + 1) * setup.slotBytes);
}

function readFully(fd: number, length: number, position: number): Buffer {
  if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, scratch, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return scratch.subarray(0, done);
}

function writeFully(fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** Runs a job; returns the bytes it left in its slot. */
function run(job: Job): number {
  const layout = content.layout;
  switch (job.op) {
    case 'decrypt': {
      const cipher = readFully(job.fd, job.count * layout.cipherBlock, layout.cipherOffsetOf(job.first));
      return content.decryptBlocks(cipher, job.first, Buffer.from(job.fileId, 'hex')).copy(slot(job.slot));
    }
    case 'encrypt': {
      const sealed = content.encryptBlocks(slot(job.slot).subarray(0, job.length), job.first, Buffer.from(job.fileId, 'hex'), randomNonce);
      writeFully(job.fd, sealed, layout.cipherOffsetOf(job.first));
      return 0;
    }
    case 'reverse': {
      const plain = readFully(job.fd, job.count * PLAIN_BLOCK, job.first * PLAIN_BLOCK);
      return content.encryptBlocks(plain, job.first, pathIv(job.cPath, 'FILEID'), blockNonces(job.cPath)).copy(slot(job.slot));
    }
  }
}

parentPort!.on('message', (job: Job) => {
  let reply: Reply;
  try {
    reply = { id: job.id, ok: true, length: run(job) };
  } catch (err) {
    if (err instanceof CorruptBlockError) reply = { id: job.id, ok: false, corrupt: { blockNo: err.blockNo, reason: err.reason }, message: err.message };
    else {
      const code = (err as { code?: unknown }).code;
      reply = { id: job.id, ok: false, ...(typeof code === 'string' ? { code } : {}), message: err instanceof Error ? err.message : String(err) };
    }
  }
  parentPort!.postMessage(reply);
});
