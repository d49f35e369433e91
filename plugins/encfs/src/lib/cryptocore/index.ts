// Cryptographic building blocks on Node's native AES and OpenSSL: AEADs for content blocks
// (AES-GCM through kmx's native helper), EME for names, CMAC/AES-SIV, key derivation, and a
// pooled random source.
export { AES_BLOCK } from './blocks.js';
export { AesEcb } from './ecb.js';
export { Eme } from './eme.js';
export { Cmac } from './cmac.js';
export { AesSiv } from './aessiv.js';
export { AesGcmAead, AesSivAead, BLOCK_OVERHEAD, NONCE_BYTES, TAG_BYTES, nthAad, type BlockAead, type RunFailure } from './aead.js';
export { NATIVE_GCM_LIBRARY, NativeGcmAead, nativeGcmStatus } from './native-gcm.js';
export { HKDF_INFO, MASTER_KEY_BYTES, deriveKeys, hkdf } from './keys.js';
export { RandomPool, randomPool } from './random.js';
export { CryptoCore, contentGcm } from './crypto-core.js';
