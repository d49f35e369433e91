import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { KmxError } from '@kmx/core';
import { readPem } from './agent.js';
import { RevocationList, type RevocationSource } from './revocation.js';

/** The three files of a node's identity in the cluster. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Mutual TLS with the cluster CA (and its revocation list), or (only when asked for by --insecure) plain TCP. */
export type Security = { kind: 'tls'; files: TlsFiles; revoked?: RevocationSource | undefined } | { kind: 'insecure' };

interface LoadedTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The files `kmx procsys certs --dir DIR` wrote for node NAME. */
export function tlsFilesIn(dir: string, name: string): TlsFiles {
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  if (!existsSync(files.cert)) throw new KmxError(`no certificate for node "${name}" in ${dir}`, { hint: `create one: kmx procsys certs --dir ${dir} --node ${name}` });
  return files;
}

/**
 * Reads and checks a node's identity before any connection: each file must parse, the key
 * must match the certificate, and the certificate must be signed by the CA. Each failure is
 * one line naming the file.
 */
function loadTls(files: TlsFiles): LoadedTls {
  const ca = readPem(files.ca, 'CA certificate');
  const cert = readPem(files.cert, 'certificate');
  const key = readPem(files.key, 'private key');
  const parse = (pem: Buffer, path: string): X509Certificate => {
    try {
      return new X509Certificate(pem);
    } catch {
      throw new KmxError(`${path} is not a PEM certificate`, { hint: 'create certificates with: kmx procsys certs' });
    }
  };
  const caCert = parse(ca, files.ca);
  const nodeCert = parse(cert, files.cert);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new KmxError(`${files.key} is not a PEM private key`, { hint: 'create certificates with: kmx procsys certs' });
  }
  if (!nodeCert.checkPrivateKey(privateKey)) throw new KmxError(`the key ${files.key} does not belong to the certificate ${files.cert}`);
  if (!nodeCert.verify(caCert.publicKey)) throw new KmxError(`the certificate ${files.cert} is not signed by the CA ${files.ca}`, { hint: 'use the CA the node certificates were made with' });
  if (Date.parse(nodeCert.validTo) < Date.now()) throw new KmxError(`the certificate ${files.cert} expired on ${nodeCert.validTo}`, { hint: 'make new ones with: kmx procsys certs' });
  return { ca, cert, key };
}

export function serverCredentials(security: Security): grpc.ServerCredentials {
  if (security.kind === 'insecure') return grpc.ServerCredentials.createInsecure();
  const tls = loadTls(security.files);
  // true: a client without a certificate from the cluster CA is refused in the handshake.
  return grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
}

/** The revocation list security names, read now (a list that cannot be used is an error at start). */
export function revocationOf(security: Security): RevocationList | undefined {
  return security.kind === 'tls' && security.revoked ? new RevocationList(security.revoked) : undefined;
}

/**
 * Client credentials: the agent's certificate must come from the cluster CA, name the peer
 * (checked against the name it is called by), and not be revoked in the revocation list.
 */
export function channelCredentials(security: Security): grpc.ChannelCredentials {
  if (security.kind === 'insecure') return grpc.credentials.createInsecure();
  const tls = loadTls(security.files);
  const revoked = revocationOf(security);
  if (!revoked) return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert);
  return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert, {
    checkServerIdentity: (host, cert) => {
      const mismatch = checkServerIdentity(host, cert);
      if (mismatch) return mismatch;
      const why = revoked.refusal(cert, `in ${revoked.source.path}`);
      return why ? new Error(why) : undefined;
    },
  });
}
