import { SysError, libc } from '@kmx/core';
import { PLAIN_BLOCK } from '../contentenc/index.js';
import type { ContentBlocks } from './content-blocks.js';
import { truncateFd } from './io.js';
import type { OpenFile } from './open-files.js';
import { landed } from './write-behind.js';
import type { WriteFailures } from './write-failures.js';

/**
 * truncate(2) and fallocate(2) of open files. Each is one transaction: a shrink re-encrypts
 * what is left of the new last block, a growth pads the old one, and the blocks in between
 * stay holes.
 */
export class Resizer {
  constructor(private readonly blocks: ContentBlocks, private readonly failures: WriteFailures) {}

  truncate(file: OpenFile, path: string, size: number): Promise<void> {
    return file.entry.lock.exclusive(() => this.resize(file, path, size));
  }

  /**
   * fallocate(2) as gocryptfs has it: mode 0 and FALLOC_FL_KEEP_SIZE reserve the encrypted
   * range (a hole stays a hole: reserved space reads as zeros, which is how a hole is stored),
   * and mode 0 then grows the file as truncate does (padding the old last block, a real last
   * block), so the content stays valid. Other modes (punching, zeroing, collapsing) would need
   * blocks rewritten: EOPNOTSUPP, as gocryptfs answers.
   */
  allocate(file: OpenFile, path: string, mode: number, offset: number, length: number): Promise<void> {
    if (mode !== 0 && mode !== libc.FALLOC_FL_KEEP_SIZE) return Promise.reject(SysError.of('EOPNOTSUPP', 'fallocate', path, { detail: 'only modes 0 and KEEP_SIZE keep the encrypted format valid' }));
    if (offset < 0 || length <= 0) return Promise.reject(SysError.of('EINVAL', 'fallocate', path));
    return file.entry.lock.exclusive(async () => {
      await landed(file);
      this.failures.repair(file, path);
      file.entry.ahead = undefined;
      const layout = this.blocks.enc.layout;
      const end = offset + length;
      const from = layout.cipherOffsetOf(Math.floor(offset / PLAIN_BLOCK));
      libc.fallocate(file.fd, libc.FALLOC_FL_KEEP_SIZE, from, layout.cipherSize(end) - from);
      if (mode === 0 && end > this.blocks.plainSize(file)) await this.resize(file, path, end);
    });
  }

  /** Truncation, with the content lock held. */
  private async resize(file: OpenFile, path: string, size: number): Promise<void> {
    await landed(file);
    const { fd, entry } = file;
    entry.ahead = undefined;
    if (size === 0) {
      truncateFd(fd, 0);
      entry.fileId = undefined; // a file that grows again gets a new ID
      entry.repairs.splice(0); // nothing left to put back
      return;
    }
    this.failures.repair(file, path);
    const blocks = this.blocks;
    const plainSize = blocks.plainSize(file);
    if (size === plainSize) return;
    const layout = blocks.enc.layout;
    await this.failures.transact(file, async (tx) => {
      if (size < plainSize) {
        if (size % PLAIN_BLOCK !== 0) {
          // The new last block is partial: re-encrypt what is left of it (in place, before the cut).
          const blockNo = Math.floor(size / PLAIN_BLOCK);
          const fileId = await blocks.fileIdOf(file, path);
          const kept = (await blocks.readBlocks(file, path, blockNo, 1)).subarray(0, size - blockNo * PLAIN_BLOCK);
          await blocks.writeBlocks(file, tx, kept, blockNo, fileId!);
        }
        tx.truncate(layout.cipherSize(size));
        return;
      }
      // Growing: within the last block, or with new blocks that stay holes except a partial last one.
      if (size % PLAIN_BLOCK !== 0 || (plainSize > 0 && Math.floor((plainSize - 1) / PLAIN_BLOCK) === Math.floor((size - 1) / PLAIN_BLOCK))) {
        await blocks.writeIn(file, path, tx, Buffer.alloc(1), size - 1);
        return;
      }
      const fileId = await blocks.headerFor(file, path, tx);
      await blocks.padLastBlock(file, path, tx, plainSize, fileId);
      tx.truncate(layout.cipherSize(size));
    });
  }
}
