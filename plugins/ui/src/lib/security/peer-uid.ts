import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { libc } from '@kmx/core';

/**
 * The uid of the process at the other end of a loopback TCP connection. The kernel lists every
 * TCP socket of this network namespace in /proc/net/tcp with its owner's uid; the client's
 * socket is the one whose local end is our remote end and whose remote end is our local end.
 * Undefined when it is not there (the client is gone already): the caller refuses then.
 */
export function tcpPeerUid(socket: Socket): number | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (localAddress === undefined || localPort === undefined || remoteAddress === undefined || remotePort === undefined) return undefined;
  const clientEnd = procNetAddress(remoteAddress, remotePort);
  const serverEnd = procNetAddress(localAddress, localPort);
  if (clientEnd === undefined || serverEnd === undefined) return undefined;
  // Read at once rather than through libuv's thread pool: a few hundred lines take well under a
  // millisecond, and on a busy machine a queued read delayed every new connection.
  let table = '';
  try {
    table = readFileSync('/proc/self/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of table.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid …
    const fields = line.trim().split(/\s+/);
    if (fields[1] === clientEnd && fields[2] === serverEnd) {
      const uid = Number(fields[7]);
      return Number.isInteger(uid) ? uid : undefined;
    }
  }
  return undefined;
}

/** An IPv4 address and port as /proc/net/tcp spells them: the address's bytes in host (little-endian) order, in hex. */
export function procNetAddress(address: string, port: number): string | undefined {
  const octets = address.replace(/^::ffff:/, '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined;
  const hex = octets.reverse().map((o) => o.toString(16).padStart(2, '0')).join('').toUpperCase();
  return `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}

/** The uid of the peer of a UNIX socket connection, as the kernel recorded it at connect() (SO_PEERCRED). */
export function unixPeerUid(socket: Socket): number | undefined {
  try {
    return libc.peerCredentials(libc.socketFd(socket)).uid;
  } catch {
    return undefined;
  }
}
