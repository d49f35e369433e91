import { KmxError } from '@kmx/core';
import { certificateProblem, fetchHostCertificates, parseCertificate } from './host-certificate.js';
import { askAboutHostKey } from './host-key-prompt.js';
import { addHostKey, certAuthorities, checkHostKey, fingerprint, keyType, knownHostsName, type HostKeyVerdict } from './known-hosts.js';

/** What deciding about a host key needs of the connection's settings. */
export interface HostKeySettings {
  host: string;
  port: number;
  knownHostsFiles: string[];
  knownHostsFile: string;
  hostKeyPolicy: 'yes' | 'ask' | 'accept-new' | 'no';
  batchMode: boolean;
  connectTimeoutMs: number;
  /** Reached through a proxy: a certificate cannot be fetched beside the login. */
  proxied: boolean;
}

function hostKeyError(s: HostKeySettings, verdict: HostKeyVerdict, blob: Buffer, certificate?: string): KmxError {
  const what = `${keyType(blob)} key ${fingerprint(blob)}`;
  const name = knownHostsName(s.host, s.port);
  switch (verdict.status) {
    case 'changed':
      return new KmxError(`the host key of ${name} has CHANGED: it now offers ${what}, but ${verdict.where} lists another; someone may be intercepting the connection`, {
        hint: `if the server's key really changed, remove the old one: ssh-keygen -R '${name}'`,
      });
    case 'revoked':
      return new KmxError(`the host key of ${name} (${what}) is marked @revoked in ${verdict.where}`, { hint: 'refusing to connect; ask the server\'s administrator' });
    default:
      return new KmxError(`the host key of ${name} is not known (${what})${certificate ? `; ${certificate}` : ''}`, {
        hint: `check the fingerprint with the server's administrator, then mount again with --accept-new-host-key (or add it with ssh-keyscan -p ${s.port} ${s.host} >> ~/.ssh/known_hosts)`,
      });
  }
}

/**
 * Whether a certificate of a CA listed with @cert-authority vouches for the key; undefined when
 * none applies, else why not (for the error).
 */
async function certified(s: HostKeySettings, name: string, blob: Buffer, log: (line: string) => void): Promise<true | string | undefined> {
  const authorities = certAuthorities(s.knownHostsFiles, name);
  if (authorities.length === 0) return undefined;
  if (s.proxied) return 'a @cert-authority lists a CA for it, but its certificate cannot be fetched through a proxy (-o ssh_command=ssh lets OpenSSH check it)';
  const problems: string[] = [];
  for (const certBlob of await fetchHostCertificates(s.host, s.port, s.connectTimeoutMs / 1000)) {
    try {
      const cert = parseCertificate(certBlob);
      const problem = certificateProblem(cert, blob, s.host, authorities);
      if (problem === undefined) {
        log(`the host key of ${name} (${keyType(blob)} ${fingerprint(blob)}) is certified by a CA of known_hosts (certificate "${cert.keyId}")`);
        return true;
      }
      problems.push(problem);
    } catch (err) {
      problems.push(`its certificate is unreadable (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return problems.length > 0 ? `its certificate was refused: ${problems.join('; ')}` : 'a @cert-authority lists a CA for it, but the server offers no host certificate';
}

/**
 * Decides about the server's host key as ssh does: known_hosts (and @revoked), a certificate of
 * a @cert-authority CA, then by StrictHostKeyChecking: accept-new records an unknown key, ask
 * puts ssh's question at a terminal (`paused` while the user reads), yes refuses. Resolves to
 * true, or the error to report.
 */
export async function decideHostKey(s: HostKeySettings, blob: Buffer, log: (line: string) => void, paused: (waiting: boolean) => void): Promise<true | KmxError> {
  if (s.hostKeyPolicy === 'no') return true;
  const name = knownHostsName(s.host, s.port);
  const verdict = checkHostKey(s.knownHostsFiles, name, blob);
  if (verdict.status === 'known') return true;
  if (verdict.status !== 'unknown') return hostKeyError(s, verdict, blob);
  const certificate = await certified(s, name, blob, log);
  if (certificate === true) return true;
  const record = (): true => {
    addHostKey(s.knownHostsFile, name, blob);
    log(`added the host key of ${name} (${keyType(blob)} ${fingerprint(blob)}) to ${s.knownHostsFile}`);
    return true;
  };
  if (s.hostKeyPolicy === 'accept-new') return record();
  if (s.hostKeyPolicy !== 'ask' || s.batchMode || !process.stdin.isTTY) return hostKeyError(s, verdict, blob, certificate);
  paused(true);
  try {
    if (await askAboutHostKey(name, blob)) return record();
    return new KmxError(`host key verification failed: the host key of ${name} was not accepted`);
  } catch (err) {
    return err instanceof KmxError ? err : new KmxError(err instanceof Error ? err.message : String(err));
  } finally {
    paused(false);
  }
}
