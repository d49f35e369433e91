/** Small helpers on 16-byte AES blocks, shared by EME and AES-SIV. */

export const AES_BLOCK = 16;

/** out = a ⊕ b for one 16-byte block (out may alias a or b). */
export function xorBlock(out: Buffer, outAt: number, a: Buffer, aAt: number, b: Buffer, bAt: number): void {
  for (let i = 0; i < AES_BLOCK; i++) out[outAt + i] = a[aAt + i]! ^ b[bAt + i]!;
}

/**
 * Doubling in GF(2^128) with the block read as a little-endian number (EME): every byte takes
 * the carry from the byte below it, and the carry out of byte 15 folds 0x87 into byte 0.
 */
export function doubleLittleEndian(block: Buffer, at = 0): void {
  const carry = block[at + 15]! >> 7;
  for (let i = 15; i > 0; i--) block[at + i] = ((block[at + i]! << 1) | (block[at + i - 1]! >> 7)) & 0xff;
  block[at] = ((block[at]! << 1) & 0xff) ^ (carry * 0x87);
}

/** Doubling in GF(2^128) with the block read big-endian (CMAC, S2V): the carry folds 0x87 into byte 15. */
export function doubleBigEndian(block: Buffer): void {
  const carry = block[0]! >> 7;
  for (let i = 0; i < 15; i++) block[i] = ((block[i]! << 1) | (block[i + 1]! >> 7)) & 0xff;
  block[15] = ((block[15]! << 1) & 0xff) ^ (carry * 0x87);
}
