import { AesEcb } from './ecb.js';
import { AES_BLOCK, doubleLittleEndian, xorBlock } from './blocks.js';

const MAX_BLOCKS = 128;

/**
 * EME (Halevi–Rogaway "ECB-Mix-ECB"), the wide-block tweakable cipher gocryptfs encrypts
 * file names with: every output byte depends on every input byte and on the tweak (the
 * directory's IV). Each direction is three batched AES-ECB calls; the L table (the
 * multiples of AES(0)) is computed once per key.
 */
export class Eme {
  private readonly aes: AesEcb;
  /** L_j = 2^(j+1) · AES(0), for j = 0 … 127, back to back. */
  private readonly table: Buffer;

  constructor(key: Buffer) {
    this.aes = new AesEcb(key);
    this.table = Buffer.alloc(MAX_BLOCKS * AES_BLOCK);
    const l = this.aes.encrypt(Buffer.alloc(AES_BLOCK));
    for (let j = 0; j < MAX_BLOCKS; j++) {
      doubleLittleEndian(l);
      l.copy(this.table, j * AES_BLOCK);
    }
  }

  encrypt(tweak: Buffer, data: Buffer): Buffer {
    return this.transform(tweak, data, (b) => this.aes.encrypt(b));
  }

  decrypt(tweak: Buffer, data: Buffer): Buffer {
    return this.transform(tweak, data, (b) => this.aes.decrypt(b));
  }

  private transform(tweak: Buffer, data: Buffer, aes: (blocks: Buffer) => Buffer): Buffer {
    if (tweak.length !== AES_BLOCK) throw new RangeError('EME needs a 16-byte tweak');
    const m = data.length / AES_BLOCK;
    if (!Number.isInteger(m) || m < 1 || m > MAX_BLOCKS) throw new RangeError(`EME needs 1 to ${MAX_BLOCKS} whole blocks, got ${data.length} bytes`);
    const L = this.table;

    // PPP_j = AES(P_j ⊕ L_j)
    const masked = Buffer.allocUnsafe(data.length);
    for (let j = 0; j < m; j++) xorBlock(masked, j * AES_BLOCK, data, j * AES_BLOCK, L, j * AES_BLOCK);
    const ppp = aes(masked);

    // MP = T ⊕ (⊕ PPP_j); MC = AES(MP); M = MP ⊕ MC
    const mp = Buffer.from(tweak);
    for (let j = 0; j < m; j++) xorBlock(mp, 0, mp, 0, ppp, j * AES_BLOCK);
    const mc = aes(mp);
    const mix = Buffer.allocUnsafe(AES_BLOCK);
    xorBlock(mix, 0, mp, 0, mc, 0);

    // CCC_j = PPP_j ⊕ 2^(j-1)·M for j ≥ 2 (1-based); CCC_1 = MC ⊕ T ⊕ (⊕_{j≥2} CCC_j)
    const ccc = ppp;
    const first = Buffer.allocUnsafe(AES_BLOCK);
    xorBlock(first, 0, mc, 0, tweak, 0);
    for (let j = 1; j < m; j++) {
      doubleLittleEndian(mix);
      xorBlock(ccc, j * AES_BLOCK, ccc, j * AES_BLOCK, mix, 0);
      xorBlock(first, 0, first, 0, ccc, j * AES_BLOCK);
    }
    first.copy(ccc, 0);

    // C_j = AES(CCC_j) ⊕ L_j
    const out = aes(ccc);
    for (let j = 0; j < m; j++) xorBlock(out, j * AES_BLOCK, out, j * AES_BLOCK, L, j * AES_BLOCK);
    return out;
  }
}
