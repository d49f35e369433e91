import { spawn } from 'node:child_process';
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

// OpenSSH host certificates (PROTOCOL.certkeys), for known_hosts' @cert-authority lines. ssh2
// does not negotiate certificate host keys, so the certificate is fetched beside the login (as
// ssh-keyscan -c does) and accepted only if a listed CA signed it for this host, now, and it
// certifies the very key the login's server offered.

const HOST_CERT = 2;

/** SSH wire format reader: uint32, uint64, string. */
class Reader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  get position(): number {
    return this.offset;
  }
  uint32(): number {
    if (this.offset + 4 > this.buf.length) throw new Error('truncated');
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  uint64(): bigint {
    if (this.offset + 8 > this.buf.length) throw new Error('truncated');
    const v = this.buf.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }
  string(): Buffer {
    const length = this.uint32();
    if (this.offset + length > this.buf.length) throw new Error('truncated');
    const v = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return v;
  }
  get done(): boolean {
    return this.offset === this.buf.length;
  }
}

const sshString = (data: Buffer | string): Buffer => {
  const body = Buffer.from(data);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
};

export interface HostCertificate {
  /** The certified key, as a plain public key blob ("ssh-ed25519" …). */
  key: Buffer;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: Buffer;
  signatureKey: Buffer;
  /** What the CA signed, and its signature. */
  signed: Buffer;
  signature: Buffer;
  type: number;
}

/** Parses a certificate blob; the public fields depend on the key type. */
export function parseCertificate(blob: Buffer): HostCertificate {
  const r = new Reader(blob);
  const certType = r.string().toString('latin1');
  const m = /^(.*)-cert-v01@openssh\.com$/.exec(certType);
  if (!m) throw new Error(`not a certificate (${certType})`);
  const keyType = m[1]!;
  r.string(); // nonce
  let key: Buffer;
  if (keyType === 'ssh-ed25519') key = Buffer.concat([sshString(keyType), sshString(r.string())]);
  else if (keyType === 'ssh-rsa') {
    const e = r.string();
    const n = r.string();
    key = Buffer.concat([sshString(keyType), sshString(e), sshString(n)]);
  } else if (keyType.startsWith('ecdsa-sha2-')) {
    const curve = r.string();
    const point = r.string();
    key = Buffer.concat([sshString(keyType), sshString(curve), sshString(point)]);
  } else throw new Error(`certificates of ${keyType} keys are not supported`);
  r.uint64(); // serial
  const type = r.uint32();
  const keyId = r.string().toString('utf8');
  const principalBlob = new Reader(r.string());
  const principals: string[] = [];
  while (!principalBlob.done) principals.push(principalBlob.string().toString('utf8'));
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = r.string();
  r.string(); // extensions
  r.string(); // reserved
  const signatureKey = r.string();
  const signed = blob.subarray(0, r.position);
  const signature = r.string();
  if (!r.done) throw new Error('trailing bytes');
  return { key, keyId, principals, validAfter, validBefore, criticalOptions, signatureKey, signed, signature, type };
}

const b64url = (b: Buffer): string => b.toString('base64url');
const unsigned = (b: Buffer): Buffer => (b[0] === 0 ? b.subarray(1) : b);

/** A CA's public key blob as a key Node can verify with. */
function publicKey(blob: Buffer): KeyObject {
  const r = new Reader(blob);
  const type = r.string().toString('latin1');
  if (type === 'ssh-ed25519') return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(r.string()) }, format: 'jwk' });
  if (type === 'ssh-rsa') {
    const e = r.string();
    const n = r.string();
    return createPublicKey({ key: { kty: 'RSA', e: b64url(unsigned(e)), n: b64url(unsigned(n)) }, format: 'jwk' });
  }
  const curves: Record<string, [string, number]> = { nistp256: ['P-256', 32], nistp384: ['P-384', 48], nistp521: ['P-521', 66] };
  const curve = curves[r.string().toString('latin1')];
  if (type.startsWith('ecdsa-sha2-') && curve) {
    const point = r.string();
    const size = curve[1];
    return createPublicKey({ key: { kty: 'EC', crv: curve[0], x: b64url(point.subarray(1, 1 + size)), y: b64url(point.subarray(1 + size)) }, format: 'jwk' });
  }
  throw new Error(`CA keys of type ${type} are not supported`);
}

/** Whether `signature` (SSH format) over `data` was made by `caBlob`'s key. */
function signedBy(caBlob: Buffer, data: Buffer, signature: Buffer): boolean {
  const r = new Reader(signature);
  const algorithm = r.string().toString('latin1');
  const sig = r.string();
  const key = publicKey(caBlob);
  if (algorithm === 'ssh-ed25519') return verify(null, data, key, sig);
  if (algorithm === 'rsa-sha2-256' || algorithm === 'rsa-sha2-512') return verify(algorithm === 'rsa-sha2-256' ? 'sha256' : 'sha512', data, key, sig);
  const hashes: Record<string, string> = { 'ecdsa-sha2-nistp256': 'sha256', 'ecdsa-sha2-nistp384': 'sha384', 'ecdsa-sha2-nistp521': 'sha512' };
  const hash = hashes[algorithm];
  if (!hash) return false; // ssh-rsa (SHA-1) and unknown algorithms: refused, as OpenSSH does by default
  const rs = new Reader(sig);
  const size = ({ sha256: 32, sha384: 48, sha512: 66 } as Record<string, number>)[hash]!;
  const pad = (b: Buffer): Buffer => Buffer.concat([Buffer.alloc(Math.max(0, size - unsigned(b).length)), unsigned(b)]);
  return verify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([pad(rs.string()), pad(rs.string())]));
}

/**
 * Why `cert` does not vouch for `offered` as the key of `host` (undefined when it does): signed
 * by one of `authorities`, a host certificate, naming `host` among its principals, valid now,
 * with no critical option (none is defined for host certificates).
 */
export function certificateProblem(cert: HostCertificate, offered: Buffer, host: string, authorities: readonly Buffer[], now = new Date()): string | undefined {
  if (cert.type !== HOST_CERT) return 'it is not a host certificate';
  if (!cert.key.equals(offered)) return 'it certifies another key than the one the server offered';
  if (!authorities.some((ca) => ca.equals(cert.signatureKey))) return 'no @cert-authority line lists its CA';
  if (!signedBy(cert.signatureKey, cert.signed, cert.signature)) return 'its signature does not verify';
  if (!cert.principals.includes(host)) return `it is for ${cert.principals.join(', ') || 'no host'}, not ${host}`;
  const seconds = BigInt(Math.floor(now.getTime() / 1000));
  if (seconds < cert.validAfter || seconds >= cert.validBefore) return 'it is not valid now';
  if (cert.criticalOptions.length > 0) return 'it has critical options';
  return undefined;
}

/** The host certificates `host:port` offers (ssh-keyscan -c), as blobs; none when it offers none. */
export function fetchHostCertificates(host: string, port: number, timeoutSeconds: number): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const child = spawn('ssh-keyscan', ['-c', '-T', String(Math.max(1, Math.ceil(timeoutSeconds))), '-p', String(port), '--', host], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', () => resolve([]));
    child.on('close', () => {
      const blobs: Buffer[] = [];
      // "TYPE-cert-v01@openssh.com BASE64" (ssh-keyscan -c names no host on these lines).
      for (const line of out.split('\n')) {
        const fields = line.trim().split(/\s+/);
        const at = fields.findIndex((f) => f.endsWith('-cert-v01@openssh.com'));
        if (at >= 0 && fields[at + 1]) blobs.push(Buffer.from(fields[at + 1]!, 'base64'));
      }
      resolve(blobs);
    });
  });
}
