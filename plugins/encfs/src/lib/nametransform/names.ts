import { createHash } from 'node:crypto';
import { Eme } from '../cryptocore/index.js';
import { NameBase64 } from './base64.js';

export const DIRIV_NAME = 'gocryptfs.diriv';
export const DIRIV_BYTES = 16;
export const LONGNAME_PREFIX = 'gocryptfs.longname.';
export const LONGNAME_SUFFIX = '.name';
/** Linux's limit on one name, in bytes; gocryptfs refuses longer plaintext names. */
export const NAME_MAX = 255;
/** The IV of names without DirIV (deterministic names): all zeros. */
export const ZERO_IV = Buffer.alloc(DIRIV_BYTES);

/** A name that cannot be decrypted: hidden from listings, reported by fsck. */
export class BadNameError extends Error {
  constructor(readonly cipherName: string, readonly reason: string) {
    super(`bad name ${cipherName}: ${reason}`);
    this.name = 'BadNameError';
  }
}

export interface NameOptions {
  plaintextNames: boolean;
  raw64: boolean;
  longNames: boolean;
  longNameMax: number;
}

/** Where an entry lives on disk: its name there and, for hashed long names, the full encrypted name. */
export interface OnDiskName {
  name: string;
  /** Set when `name` is gocryptfs.longname.<hash>: the content of its .name sidecar. */
  longName?: string;
}

/** Whether a plaintext name is one a directory may hold. */
export function isValidPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/**
 * File names: EME under the directory's IV, PKCS#7-padded to 16 bytes, base64; names whose
 * encryption is too long for the backing filesystem are stored as a hash with a sidecar.
 * With PlaintextNames, names pass unchanged.
 */
export class NameTransform {
  readonly b64: NameBase64;

  constructor(private readonly eme: Eme, readonly options: NameOptions) {
    this.b64 = new NameBase64(options.raw64);
  }

  get plaintext(): boolean {
    return this.options.plaintextNames;
  }

  encryptName(plain: string, iv: Buffer): string {
    if (this.options.plaintextNames) return plain;
    const bytes = Buffer.from(plain, 'utf8');
    const pad = 16 - (bytes.length % 16);
    const padded = Buffer.alloc(bytes.length + pad, pad);
    bytes.copy(padded);
    return this.b64.encode(this.eme.encrypt(iv, padded));
  }

  /** The plaintext of an encrypted name (not a long-name hash), or BadNameError. */
  decryptName(cipher: string, iv: Buffer): string {
    if (this.options.plaintextNames) return cipher;
    const data = this.b64.decode(cipher);
    if (!data) throw new BadNameError(cipher, 'not valid base64');
    if (data.length === 0 || data.length % 16 !== 0 || data.length > 2048) throw new BadNameError(cipher, `${data.length} bytes is not a whole number of blocks`);
    const padded = this.eme.decrypt(iv, data);
    const pad = padded[padded.length - 1]!;
    if (pad < 1 || pad > 16 || pad > padded.length) throw new BadNameError(cipher, 'bad padding');
    for (let i = padded.length - pad; i < padded.length; i++) if (padded[i] !== pad) throw new BadNameError(cipher, 'bad padding');
    const plain = padded.subarray(0, padded.length - pad).toString('utf8');
    if (!isValidPlainName(plain)) throw new BadNameError(cipher, 'decrypts to an invalid name');
    return plain;
  }

  /** The on-disk form of an encrypted name: itself, or its hash when it is too long. */
  onDisk(cipherName: string): OnDiskName {
    if (this.options.plaintextNames || !this.options.longNames || cipherName.length <= this.options.longNameMax) return { name: cipherName };
    return { name: this.hashLongName(cipherName), longName: cipherName };
  }

  hashLongName(cipherName: string): string {
    return LONGNAME_PREFIX + this.b64.encode(createHash('sha256').update(cipherName, 'ascii').digest());
  }

  /** gocryptfs.longname.<hash> (not its sidecar). */
  isLongName(onDiskName: string): boolean {
    return !this.options.plaintextNames && onDiskName.startsWith(LONGNAME_PREFIX) && !onDiskName.endsWith(LONGNAME_SUFFIX);
  }

  isLongNameSidecar(onDiskName: string): boolean {
    return !this.options.plaintextNames && onDiskName.startsWith(LONGNAME_PREFIX) && onDiskName.endsWith(LONGNAME_SUFFIX);
  }

  /** Names in a cipher directory that are gocryptfs's own, never shown in the plaintext view. */
  isInternal(onDiskName: string, atRoot: boolean): boolean {
    if (atRoot && onDiskName === 'gocryptfs.conf') return true;
    if (this.options.plaintextNames) return false;
    return onDiskName === DIRIV_NAME || this.isLongNameSidecar(onDiskName);
  }
}
