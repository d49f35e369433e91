import { scrypt as scryptCallback, randomBytes } from 'node:crypto';
import { KmxError } from '@kmx/core';

/** scrypt parameters as gocryptfs.conf stores them. */
export interface ScryptObject {
  Salt: string;
  N: number;
  R: number;
  P: number;
  KeyLen: number;
}

export const DEFAULT_LOG_N = 16;
export const MIN_LOG_N = 10;
export const MAX_LOG_N = 28;
const SALT_BYTES = 32;

export function newScryptObject(logN = DEFAULT_LOG_N): ScryptObject {
  if (!Number.isInteger(logN) || logN < MIN_LOG_N || logN > MAX_LOG_N) {
    throw new KmxError(`scrypt cost ${logN} is out of range`, { hint: `choose --scryptn from ${MIN_LOG_N} to ${MAX_LOG_N} (N = 2^scryptn)`, exitCode: 2 });
  }
  return { Salt: randomBytes(SALT_BYTES).toString('base64'), N: 2 ** logN, R: 8, P: 1, KeyLen: 32 };
}

/**
 * The key-encryption key: scrypt(password, salt). Asynchronous (libuv's pool), so a mount
 * being set up never blocks the event loop. Node's default memory cap (32 MiB) is below what
 * N = 65536, r = 8 needs; the cap is set to exactly what the parameters need.
 */
export function deriveKek(password: Buffer, params: ScryptObject): Promise<Buffer> {
  const { N, R: r, P: p, KeyLen } = params;
  const maxmem = 128 * r * (N + p + 2) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scryptCallback(password, Buffer.from(params.Salt, 'base64'), KeyLen, { N, r, p, maxmem }, (err, key) => {
      if (err) reject(new KmxError(`scrypt with N=${N}, r=${r}, p=${p} failed: ${err.message}`, { exitCode: 23 }));
      else resolve(key);
    });
  });
}
