import { fstatSync } from 'node:fs';
import { ContentEnc, HEADER_BYTES, PLAIN_BLOCK, encodeHeader } from '../contentenc/index.js';
import { blockNonces, pathIv } from '../pathiv/index.js';
import type { CryptoPool } from '../cryptopool/index.js';
import { readAt } from '../frontend/io.js';

/** From this many blocks on, a read is encrypted by the crypto workers. */
const POOL_MIN_BLOCKS = 8;

/** An open plaintext file as the reverse view shows it: its header and block nonces are fixed by its encrypted path. */
export interface ReverseFile {
  fd: number;
  cPath: string;
  fileId: Buffer;
  header: Buffer;
  nonceOf: (blockNo: number) => Buffer;
}

/**
 * Encrypts plaintext files on the fly, deterministically: the file ID and every block nonce
 * derive from the file's encrypted path, and AES-SIV makes the same plaintext give the same
 * bytes. Only the blocks a read touches are encrypted; none is left a hole.
 */
export class ReverseContent {
  /** Hard-linked files: the path whose IVs all their names share, per (dev, ino), for the life of the mount. */
  private readonly linkPaths = new Map<string, string>();

  constructor(readonly enc: ContentEnc, private readonly pool?: CryptoPool) {}

  /**
   * The names of a hard-linked file are one file: they show the same bytes, those of the name
   * seen first (looked up, listed or opened) in this mount. gocryptfs 2.3 behaves the same
   * way (its nodes are per inode), so such files are identical only when both views meet the
   * names in the same order.
   */
  ivPath(dev: bigint, ino: bigint, nlink: bigint, cPath: string): string {
    if (nlink < 2n) return cPath;
    const key = `${dev}:${ino}`;
    const first = this.linkPaths.get(key);
    if (first !== undefined) return first;
    if (this.linkPaths.size >= 65536) this.linkPaths.clear();
    this.linkPaths.set(key, cPath);
    return cPath;
  }

  openFile(fd: number, path: string): ReverseFile {
    const st = fstatSync(fd, { bigint: true });
    const cPath = this.ivPath(st.dev, st.ino, st.nlink, path);
    const fileId = pathIv(cPath, 'FILEID');
    return { fd, cPath, fileId, header: encodeHeader(fileId), nonceOf: blockNonces(cPath) };
  }

  async read(file: ReverseFile, buffer: Buffer, position: number): Promise<number> {
    const layout = this.enc.layout;
    const end = Math.min(position + buffer.length, layout.cipherSize(fstatSync(file.fd).size));
    if (position >= end) return 0;
    let written = 0;
    if (position < HEADER_BYTES) written = file.header.copy(buffer, 0, position, Math.min(HEADER_BYTES, end));
    if (end <= HEADER_BYTES) return written;
    const from = Math.max(position, HEADER_BYTES) - HEADER_BYTES;
    const to = end - HEADER_BYTES;
    const first = Math.floor(from / layout.cipherBlock);
    const last = Math.floor((to - 1) / layout.cipherBlock);
    // Block offsets are relative to block `first`; copy what overlaps [from, to).
    const base = first * layout.cipherBlock;
    let copied = 0;
    await this.visitBlocks(file, first, last - first + 1, (piece, offset) => {
      const lo = Math.max(from, base + offset);
      const hi = Math.min(to, base + offset + piece.length);
      if (hi > lo) copied += piece.copy(buffer, written + lo - from, lo - base - offset, hi - base - offset);
    });
    return written + copied;
  }

  private async visitBlocks(file: ReverseFile, first: number, count: number, consume: (piece: Buffer, offset: number) => void): Promise<void> {
    if (this.pool && count >= POOL_MIN_BLOCKS) {
      await this.pool.reverse(file.fd, first, count, file.cPath, this.enc.layout.cipherBlock, consume);
      return;
    }
    const plain = readAt(file.fd, count * PLAIN_BLOCK, first * PLAIN_BLOCK);
    if (plain.length > 0) consume(this.enc.encryptBlocks(plain, first, file.fileId, file.nonceOf), 0);
  }

  /** A symlink target as reverse mode stores it, sealed under a nonce from the link's path. */
  sealLinkTarget(target: string, cPath: string): Buffer {
    // gocryptfs 2.3 derives it from cPath + "/" + the link's own name, which cPath already ends with.
    const name = cPath.slice(cPath.lastIndexOf('/') + 1);
    return this.enc.sealValue(Buffer.from(target, 'utf8'), pathIv(`${cPath}/${name}`, 'SYMLINKIV'));
  }
}
