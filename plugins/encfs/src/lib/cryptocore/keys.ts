import { createHash, hkdfSync } from 'node:crypto';

/** HKDF "info" strings gocryptfs derives its sub-keys with (salt empty, SHA-256). */
export const HKDF_INFO = {
  gcmContent: 'AES-GCM file content encryption',
  sivContent: 'AES-SIV file content encryption',
  names: 'EME filename encryption',
} as const;

export const MASTER_KEY_BYTES = 32;

export function hkdf(ikm: Buffer, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), info, length));
}

/**
 * The sub-keys of a master key. With the HKDF feature flag each purpose gets its own
 * HKDF-derived key; very old filesystems (no HKDF) use the master key itself, and
 * SHA-512 of it for AES-SIV.
 */
export function deriveKeys(master: Buffer, useHkdf: boolean): { gcm: Buffer; siv: Buffer; names: Buffer } {
  if (master.length !== MASTER_KEY_BYTES) throw new RangeError('the master key must be 32 bytes');
  if (!useHkdf) return { gcm: Buffer.from(master), siv: createHash('sha512').update(master).digest(), names: Buffer.from(master) };
  return { gcm: hkdf(master, HKDF_INFO.gcmContent, 32), siv: hkdf(master, HKDF_INFO.sivContent, 64), names: hkdf(master, HKDF_INFO.names, 32) };
}
