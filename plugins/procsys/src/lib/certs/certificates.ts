import { webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { KmxError } from '@kmx/core';
import { checkName } from '../cluster/peers.js';

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

async function writePrivate(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
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
  await writeFile(certPath, cert.toString('pem') + '\n');
  await writePrivate(keyPath, pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', keys.privateKey)));
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
 * `kmx procsys certs`: the cluster CA (made once, reused after) and one certificate and key
 * per node, all in `dir` (keys 0600). Existing node files are replaced.
 */
export async function createCertificates(dir: string, nodes: readonly NodeRequest[], days = 825): Promise<CertsResult> {
  for (const node of nodes) checkName(node.name, 'node name');
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new KmxError(`--days must be from 1 to 3650, not ${days}`, { exitCode: 2 });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { ca, created } = await authority(dir, days);
  const result: CertsResult = { dir, createdCa: created, nodes: [] };
  for (const node of nodes) {
    const { cert, key } = await nodeCertificate(ca, node, days);
    const certPath = join(dir, `${node.name}.pem`);
    const keyPath = join(dir, `${node.name}-key.pem`);
    await writeFile(certPath, cert);
    await writePrivate(keyPath, key);
    result.nodes.push({ name: node.name, cert: certPath, key: keyPath });
  }
  return result;
}
