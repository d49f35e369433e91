// Cryptographic building blocks on Node's native AES: AEADs for content blocks, EME for
// names, CMAC/AES-SIV, key derivation, and a pooled random source.
export { AES_BLOCK } from './blocks.js';
export { AesEcb } from './ecb.js';
export { Eme } from './eme.js';
export { Cmac } from './cmac.js';
export { AesSiv } from './aessiv.js';
export { AesGcmAead, AesSivAead, BLOCK_OVERHEAD, NONCE_BYTES, TAG_BYTES, type BlockAead } from './aead.js';
export { HKDF_INFO, MASTER_KEY_BYTES, deriveKeys, hkdf } from './keys.js';
export { RandomPool, randomPool } from './random.js';
export { CryptoCore } from './crypto-core.js';
