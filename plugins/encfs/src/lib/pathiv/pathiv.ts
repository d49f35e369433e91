import { createHash } from 'node:crypto';

/** What a derived IV is for; each purpose gives an unrelated value for the same path. */
export type IvPurpose = 'DIRIV' | 'FILEID' | 'BLOCK0IV' | 'SYMLINKIV';

/**
 * Reverse mode has nowhere to store IVs, so it derives them from the encrypted relative path
 * (on-disk names, '/'-separated, "" for the root): SHA-256(path ‖ 0x00 ‖ purpose), first 16
 * bytes. The same tree therefore always encrypts to the same bytes.
 */
export function pathIv(cipherPath: string, purpose: IvPurpose): Buffer {
  return createHash('sha256').update(cipherPath).update(Buffer.of(0)).update(purpose).digest().subarray(0, 16);
}

/**
 * Nonces of a file's blocks: block i's nonce is BLOCK0IV with its last 8 bytes, read as a
 * big-endian u64, increased by i (mod 2^64).
 */
export function blockNonces(cipherPath: string): (blockNo: number) => Buffer {
  const base = pathIv(cipherPath, 'BLOCK0IV');
  const low = base.readBigUInt64BE(8);
  return (blockNo) => {
    const nonce = Buffer.from(base);
    nonce.writeBigUInt64BE((low + BigInt(blockNo)) & 0xffffffffffffffffn, 8);
    return nonce;
  };
}
