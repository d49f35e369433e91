import { createRequire } from 'node:module';
import { KmxError } from '@kmx/core';
import type { ConnectConfig } from 'ssh2';

/** The algorithm lists and compression ssh_config asked for (undefined: ssh's default stands). */
export interface AlgorithmLists {
  ciphers: string[] | undefined;
  macs: string[] | undefined;
  kexAlgorithms: string[] | undefined;
  hostKeyAlgorithms: string[] | undefined;
  compression: boolean;
}

interface Ssh2Constants {
  SUPPORTED_CIPHER: string[];
  SUPPORTED_MAC: string[];
  SUPPORTED_KEX: string[];
  SUPPORTED_SERVER_HOST_KEY: string[];
}
/** What ssh2 implements (it has no types for this file). */
const supported = createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as Ssh2Constants;

/** The configured list, in its order, less what kmx's SSH library cannot do; an error when nothing is left. */
function offer(keyword: string, asked: string[] | undefined, known: readonly string[]): string[] | undefined {
  if (asked === undefined) return undefined;
  const usable = asked.filter((a) => known.includes(a));
  if (usable.length === 0) {
    throw new KmxError(`none of ${keyword} ${asked.join(',')} is one kmx can use`, { hint: `kmx has: ${known.join(', ')}` });
  }
  return usable;
}

/**
 * What to offer the server. Where the configuration leaves ssh's default cipher list, kmx
 * prefers AES-GCM, the fastest with AES instructions (and the one its packet pool serves).
 * -C / Compression=yes puts zlib first, as ssh does.
 */
export function algorithms(lists: AlgorithmLists): ConnectConfig['algorithms'] {
  const cipher = offer('Ciphers', lists.ciphers, supported.SUPPORTED_CIPHER);
  const hmac = offer('MACs', lists.macs, supported.SUPPORTED_MAC);
  const kex = offer('KexAlgorithms', lists.kexAlgorithms, supported.SUPPORTED_KEX);
  const serverHostKey = offer('HostKeyAlgorithms', lists.hostKeyAlgorithms, supported.SUPPORTED_SERVER_HOST_KEY);
  return {
    cipher: cipher ?? { remove: ['aes128-gcm@openssh.com'], prepend: ['aes128-gcm@openssh.com'] },
    compress: lists.compression ? ['zlib@openssh.com', 'zlib', 'none'] : ['none', 'zlib@openssh.com', 'zlib'],
    ...(hmac ? { hmac } : {}),
    ...(kex ? { kex } : {}),
    ...(serverHostKey ? { serverHostKey } : {}),
  } as ConnectConfig['algorithms'];
}
