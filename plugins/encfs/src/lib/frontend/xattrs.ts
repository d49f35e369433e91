import { SysError } from '@kmx/core';
import type { ContentEnc } from '../contentenc/index.js';
import { randomPool, type Eme } from '../cryptocore/index.js';
import type { NameBase64 } from '../nametransform/index.js';

/** Every encrypted attribute is stored under this prefix (user.* is what ordinary users may set). */
export const XATTR_PREFIX = 'user.gocryptfs.';
/** The fixed EME tweak of attribute names. */
const XATTR_NAME_IV = Buffer.from('xattr_name_iv_xx', 'ascii');

/**
 * Extended attributes as gocryptfs stores them: the whole name (namespace included) is
 * EME-encrypted under a fixed tweak and stored as user.gocryptfs.<base64>; a value is sealed
 * like a symlink target; an empty value stays empty. system.* (ACLs) is not supported.
 */
export class XattrCrypt {
  constructor(private readonly eme: Eme, private readonly b64: NameBase64, private readonly content: ContentEnc) {}

  encryptName(name: string, path: string): string {
    if (name.startsWith('system.')) throw SysError.of('EOPNOTSUPP', 'xattr', path, { detail: `${name}: system attributes are not stored encrypted` });
    const bytes = Buffer.from(name, 'utf8');
    const pad = 16 - (bytes.length % 16);
    const padded = Buffer.alloc(bytes.length + pad, pad);
    bytes.copy(padded);
    return XATTR_PREFIX + this.b64.encode(this.eme.encrypt(XATTR_NAME_IV, padded));
  }

  /** The plaintext name of a stored attribute, or undefined for attributes not kmx/gocryptfs's own. */
  decryptName(stored: string): string | undefined {
    if (!stored.startsWith(XATTR_PREFIX)) return undefined;
    const data = this.b64.decode(stored.slice(XATTR_PREFIX.length));
    if (!data || data.length === 0 || data.length % 16 !== 0) return undefined;
    const padded = this.eme.decrypt(XATTR_NAME_IV, data);
    const pad = padded[padded.length - 1]!;
    if (pad < 1 || pad > 16 || !padded.subarray(padded.length - pad).every((b) => b === pad)) return undefined;
    return padded.subarray(0, padded.length - pad).toString('utf8');
  }

  sealValue(value: Buffer): Buffer {
    return value.length === 0 ? value : this.content.sealValue(value, randomPool.take(16));
  }

  openValue(stored: Buffer, name: string, path: string): Buffer {
    if (stored.length === 0) return stored;
    const value = this.content.openValue(stored);
    if (!value) throw SysError.of('EIO', 'getxattr', path, { detail: `the value of ${name} does not authenticate` });
    return value;
  }
}
