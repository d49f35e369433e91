import type { PeerCertificate } from 'node:tls';
import { KmxError } from '@kmx/core';
import { WatchedOwnerFile } from './owner-file.js';

/**
 * Revoked node certificates: one a line, `serial=HEX` (as `openssl x509 -serial` prints it) or
 * `sha256=FINGERPRINT` (hex, colons optional); `#` starts a comment. `kmx procsys certs
 * --revoke NAME` appends a node's certificate to DIR/revoked.txt, which every agent and client
 * using --certs DIR reads (or --revoked FILE). Agents check the client's certificate on every
 * call, clients the agent's at the TLS handshake; the file is read again when it changes.
 */
export interface Revoked {
  serials: Set<string>;
  fingerprints: Set<string>;
}

export const REVOKED_FILE = 'revoked.txt';

export const normalSerial = (hex: string): string => hex.replace(/:/g, '').toUpperCase().replace(/^0+(?=.)/, '');
export const normalFingerprint = (hex: string): string => hex.replace(/:/g, '').toUpperCase();

export function parseRevoked(text: string, path: string): Revoked {
  const revoked: Revoked = { serials: new Set(), fingerprints: new Set() };
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const match = /^(serial|sha256)\s*=\s*([0-9A-Fa-f:]+)$/.exec(line);
    const value = match ? match[2]!.replace(/:/g, '') : '';
    if (!match || value === '' || (match[1] === 'sha256' && value.length !== 64)) {
      throw new KmxError(`${path}:${index + 1}: not serial=HEX or sha256=FINGERPRINT: ${JSON.stringify(line)}`, { hint: 'add lines with: kmx procsys certs --dir DIR --revoke NAME' });
    }
    if (match[1] === 'serial') revoked.serials.add(normalSerial(value));
    else revoked.fingerprints.add(normalFingerprint(value));
  });
  return revoked;
}

export interface RevocationSource {
  path: string;
  /** A file named by --revoked must exist; DIR/revoked.txt of --certs may appear later. */
  required: boolean;
}

export class RevocationList {
  private readonly file: WatchedOwnerFile<Revoked>;

  constructor(readonly source: RevocationSource) {
    this.file = new WatchedOwnerFile(source.path, 'revocation list', parseRevoked, source.required ? undefined : { serials: new Set(), fingerprints: new Set() });
  }

  /**
   * Why a peer with this certificate is refused, or undefined when it is not. A list that
   * cannot be read refuses everyone (fail closed).
   */
  refusal(cert: Pick<PeerCertificate, 'serialNumber' | 'fingerprint256' | 'subject'> | undefined, where: string): string | undefined {
    if (!cert) return undefined;
    let revoked: Revoked;
    try {
      revoked = this.file.current();
    } catch (err) {
      return `the revocation list ${where} cannot be used (${err instanceof Error ? err.message : String(err)})`;
    }
    const serial = normalSerial(cert.serialNumber ?? '');
    if (revoked.serials.has(serial) || revoked.fingerprints.has(normalFingerprint(cert.fingerprint256 ?? ''))) {
      return `the certificate of "${cert.subject?.CN ?? '?'}" (serial ${serial}) is revoked ${where}`;
    }
    return undefined;
  }
}
