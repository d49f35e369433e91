import type { DoctorCheck } from '@kmx/core';
import { nativeGcmStatus } from '../lib/cryptocore/index.js';

/** kmx doctor: whether kmx enc seals AES-GCM content natively (OpenSSL) or on Node's slower crypto. */
export default function encDoctor(): DoctorCheck[] {
  const status = nativeGcmStatus();
  return [status.ok
    ? { name: 'kmx enc AES-GCM', ok: true, detail: `native, OpenSSL libcrypto.so.3 (${status.library})`, required: false }
    : { name: 'kmx enc AES-GCM', ok: false, detail: `falls back to Node's crypto, several times slower: ${status.reason}`, fix: 'apt-get install -y libssl-dev libssl3 && npm run build', required: false }];
}
