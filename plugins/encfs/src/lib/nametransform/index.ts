// File names: EME encryption under per-directory IVs, base64, long-name hashing.
export { NameBase64 } from './base64.js';
export {
  BadNameError, DIRIV_BYTES, DIRIV_NAME, LONGNAME_PREFIX, LONGNAME_SUFFIX, NAME_MAX, NameTransform, ZERO_IV, isValidPlainName,
  type NameOptions, type OnDiskName,
} from './names.js';
