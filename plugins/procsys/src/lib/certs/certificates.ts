import { X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
// @peculiar/x509 builds on tsyringe, which needs the reflect-metadata polyfill loaded first
// (core's DI loads it only when something is resolved).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KmxError } from '@kmx/core';
import { checkName } from '../cluster/peers.js';
import { REVOKED_FILE, normalFingerprint, normalSerial, parseRevoked } from '../rpc/revocation.js';

type CryptoKey = webcrypto.CryptoKey;
const crypto = webcrypto;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface NodeRequest {
  /** The node's name: its certificate's subject and DNS name, checked by every peer. */
  name: string;
  /** Extra addresses or DNS names the node is reached by (IPs go in as IP SANs). */
  altNames?: readonly string[];
}

export interface CertsResult {
  dir: string;
  createdCa: boolean;
  nodes: Array<{ name: string; cert: string; key: string }>;
  /** Certificates added to DIR/revoked.txt by this run (--revoke). */
  revoked: Array<{ name: string; serial: string; sha256: string; list: string }>;
}

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

function derOf(text: string, label: string): Buffer {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(text);
  if (!match) throw new KmxError(`not a PEM ${label.toLowerCase()}`);
  return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
}

/**
 * Writes `text` to `path` without ever writing through what is there: a new file, created
 * with O_EXCL|O_NOFOLLOW and exactly `mode` (0600 for a key) in the same directory, written
 * and synced, then renamed over `path`. A file, hard link or symlink at `path` is replaced,
 * never written to: the old inode (or the symlink's target) keeps what it had.
 */
export async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await handle.chmod(mode); // whatever the umask: the mode asked for, on the new file itself
    await handle.writeFile(text);
    await handle.sync();
    await handle.close();
    await rename(temp, path);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw new KmxError(`cannot write ${path}: ${(err as { code?: string }).code ?? String(err)}`);
  }
  const dirHandle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

const writePrivate = (path: string, text: string): Promise<void> => writeAtomically(path, text, 0o600);
const writePublic = (path: string, text: string): Promise<void> => writeAtomically(path, text, 0o644);

/** The directory keys go to: made 0700 when missing; one that others may write to is refused (they could swap files in it). */
async function privateDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  if (!st.isDirectory()) throw new KmxError(`${dir} is not a directory`, { hint: 'give --dir a directory' });
  if (st.mode & 0o022) throw new KmxError(`${dir} may be written by others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`, { hint: `chmod go-w ${dir}: private keys are written there` });
}

interface Authority {
  cert: x509.X509Certificate;
  key: CryptoKey;
}

/** The cluster CA in `dir`: loaded when it exists, else created (ca.pem, ca-key.pem). */
async function authority(dir: string, days: number): Promise<{ ca: Authority; created: boolean }> {
  const certPath = join(dir, 'ca.pem');
  const keyPath = join(dir, 'ca-key.pem');
  if (existsSync(certPath) || existsSync(keyPath)) {
    try {
      const cert = new x509.X509Certificate(await readFile(certPath, 'utf8'));
      const key = await crypto.subtle.importKey('pkcs8', derOf(await readFile(keyPath, 'utf8'), 'PRIVATE KEY'), KEY_ALGORITHM, true, ['sign']);
      return { ca: { cert, key }, created: false };
    } catch (err) {
      throw new KmxError(`cannot use the CA in ${dir}: ${err instanceof Error ? err.message : String(err)}`, { hint: 'ca.pem and ca-key.pem must both be there, as kmx procsys certs wrote them' });
    }
  }
  const keys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: 'CN=kmx procsys cluster CA',
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // The key first: a CA certificate without its key would not be reused.
  await writePrivate(keyPath, pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', keys.privateKey)));
  await writePublic(certPath, cert.toString('pem') + '\n');
  return { ca: { cert, key: keys.privateKey }, created: true };
}

/** A node certificate for both sides of mutual TLS (server and client auth), signed by the CA. */
async function nodeCertificate(ca: Authority, request: NodeRequest, days: number): Promise<{ cert: string; key: string }> {
  const keys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const names: x509.JsonGeneralName[] = [{ type: 'dns', value: request.name }];
  for (const alt of request.altNames ?? []) names.push(isIP(alt) ? { type: 'ip', value: alt } : { type: 'dns', value: alt });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    subject: `CN=${request.name}`,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + days * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

/**
 * Adds node `name`'s certificate (DIR/NAME.pem) to DIR/revoked.txt: its serial and SHA-256
 * fingerprint, under a comment naming it. Already listed: nothing changes.
 */
async function revoke(dir: string, name: string): Promise<CertsResult['revoked'][number]> {
  const certPath = join(dir, `${name}.pem`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(certPath));
  } catch (err) {
    throw new KmxError(`cannot revoke node "${name}": ${certPath}: ${(err as { code?: string }).code ?? 'not a PEM certificate'}`, { hint: 'revoke a node whose certificate is in --dir' });
  }
  const list = join(dir, REVOKED_FILE);
  const serial = normalSerial(cert.serialNumber);
  const sha256 = normalFingerprint(cert.fingerprint256);
  const old = await readFile(list, 'utf8').catch((err: { code?: string }) => {
    if (err.code === 'ENOENT') return '# kmx procsys: revoked node certificates (serial=HEX or sha256=FINGERPRINT a line)\n';
    throw new KmxError(`cannot read ${list}: ${err.code ?? String(err)}`);
  });
  const listed = parseRevoked(old, list);
  if (!listed.serials.has(serial) && !listed.fingerprints.has(sha256)) {
    const entry = `# ${name} (${cert.subject.replace(/\n/g, ', ')}), revoked ${new Date().toISOString()}\nserial=${serial}\nsha256=${cert.fingerprint256}\n`;
    await writePublic(list, `${old}${old.endsWith('\n') || old === '' ? '' : '\n'}${entry}`);
  }
  return { name, serial, sha256, list };
}

/**
 * `kmx procsys certs`: the cluster CA (made once, reused after) and one certificate and key
 * per node, all in `dir` (keys 0600, each written to a new file and renamed into place), and
 * the revocation of nodes (`revoke`: names whose certificates go into DIR/revoked.txt).
 * Existing node files are replaced.
 */
export async function createCertificates(dir: string, nodes: readonly NodeRequest[], days = 825, revokeNames: readonly string[] = []): Promise<CertsResult> {
  for (const node of nodes) checkName(node.name, 'node name');
  for (const name of revokeNames) checkName(name, 'node name');
  if (nodes.length === 0 && revokeNames.length === 0) throw new KmxError('nothing to do: give --node NAME to make a certificate, or --revoke NAME', { exitCode: 2 });
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new KmxError(`--days must be from 1 to 3650, not ${days}`, { exitCode: 2 });
  await privateDirectory(dir);
  const result: CertsResult = { dir, createdCa: false, nodes: [], revoked: [] };
  // Revoked first: `--revoke web --node web` replaces a compromised certificate.
  for (const name of revokeNames) result.revoked.push(await revoke(dir, name));
  if (nodes.length === 0) return result;
  const { ca, created } = await authority(dir, days);
  result.createdCa = created;
  for (const node of nodes) {
    const { cert, key } = await nodeCertificate(ca, node, days);
    const certPath = join(dir, `${node.name}.pem`);
    const keyPath = join(dir, `${node.name}-key.pem`);
    await writePrivate(keyPath, key);
    await writePublic(certPath, cert);
    result.nodes.push({ name: node.name, cert: certPath, key: keyPath });
  }
  return result;
}
