import { closeSync } from 'node:fs';
import { SysError, libc } from '@kmx/core';

// lsns's NETNSID: the id the caller's network namespace gives another one (RTM_GETNSID over
// rtnetlink, with the namespace's fd in NETNSA_FD), as `ip netns set NAME ID` or a veth pair
// assigns it. -1 is NETNSA_NSID_NOT_ASSIGNED, which lsns prints as "unassigned".

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const RTM_NEWNSID = 88;
const RTM_GETNSID = 90;
const NLM_F_REQUEST = 1;
const NETNSA_NSID = 1;
const NETNSA_FD = 3;
const NLMSG_HEADER = 16;
/** nlmsghdr, then struct rtgenmsg (1 byte, padded to 4), then one rtattr with an int32. */
const REQUEST_SIZE = NLMSG_HEADER + 4 + 8;

export const NETNSID_UNASSIGNED = -1;

type CFunction = (...args: unknown[]) => number;

interface Calls {
  socket: CFunction;
  send: CFunction;
  recv: CFunction;
}

let calls: Calls | undefined;

function libcCalls(): Calls {
  if (!calls) {
    const library = libc.koffi().load('libc.so.6');
    calls = {
      socket: library.func('int socket(int domain, int type, int protocol)') as CFunction,
      send: library.func('long send(int fd, const uint8_t *buf, size_t len, int flags)') as CFunction,
      recv: library.func('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)') as CFunction,
    };
  }
  return calls;
}

function checked(result: number, what: string): number {
  if (result < 0) throw new SysError(libc.koffi().errno(), what);
  return result;
}

/** One rtnetlink socket, asked for the ids of as many namespaces as needed; close() when done. */
export class NetnsIdQuery implements Disposable {
  private fd: number | undefined;

  /** The id of the network namespace open on `nsFd`: ≥ 0, NETNSID_UNASSIGNED, or undefined if the kernel would not say. */
  idOf(nsFd: number): number | undefined {
    try {
      const c = libcCalls();
      this.fd ??= checked(c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), 'socket(AF_NETLINK)');
      const request = Buffer.alloc(REQUEST_SIZE);
      request.writeUInt32LE(REQUEST_SIZE, 0);
      request.writeUInt16LE(RTM_GETNSID, 4);
      request.writeUInt16LE(NLM_F_REQUEST, 6);
      request.writeUInt8(0, NLMSG_HEADER); // rtgen_family AF_UNSPEC
      request.writeUInt16LE(8, NLMSG_HEADER + 4);
      request.writeUInt16LE(NETNSA_FD, NLMSG_HEADER + 6);
      request.writeInt32LE(nsFd, NLMSG_HEADER + 8);
      checked(c.send(this.fd, request, REQUEST_SIZE, 0), 'send(RTM_GETNSID)');
      const reply = Buffer.alloc(256);
      const length = checked(c.recv(this.fd, reply, reply.length, 0), 'recv(RTM_GETNSID)');
      if (length < REQUEST_SIZE || reply.readUInt16LE(4) !== RTM_NEWNSID) return undefined; // NLMSG_ERROR
      // The attributes after the rtgenmsg: NETNSA_NSID is the one lsns reads.
      for (let at = NLMSG_HEADER + 4; at + 8 <= Math.min(length, reply.readUInt32LE(0)); ) {
        const size = reply.readUInt16LE(at);
        if (size < 4) break;
        if (reply.readUInt16LE(at + 2) === NETNSA_NSID) return reply.readInt32LE(at + 4);
        at += (size + 3) & ~3;
      }
      return undefined;
    } catch {
      return undefined; // no rtnetlink (a seccomp filter, say): lsns leaves the column empty too
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
