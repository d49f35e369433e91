import { packetSender, type SFTPInternals } from './adapter.js';

const SSH_FXP_WRITE = 6;
const SSH_FXP_DATA = 103;
/** uint32 length, byte type, uint32 request id, uint32 data length: the head of a DATA packet. */
const DATA_HEAD = 13;

/** What ssh2's read() leaves in `_requests` for a READ into a caller's buffer. */
type BufferedRead = NonNullable<SFTPInternals['_requests'][number]>;

/**
 * The client's incoming byte stream, split at SFTP packet boundaries before ssh2 sees it. A
 * DATA reply to a READ that gave ssh2 a buffer (every read kmx makes) is copied from the
 * stream straight into that buffer, and the request completed as ssh2 would; every other
 * packet goes to ssh2 unchanged. ssh2 alone would first gather each 128 KiB reply, which spans
 * several SSH packets, into a freshly allocated buffer and then copy it once more: a quarter
 * of the process's CPU on a sustained read (allocation, page faults, memmove).
 * Relies on ssh2 internals (`_requests`, its read's callback), like the rest of the adapter.
 */
export class DataReplyRouter {
  private readonly head = Buffer.allocUnsafe(DATA_HEAD);
  private headBytes = 0;
  /** Bytes of the current packet not yet seen (beyond its head). */
  private remaining = 0;
  /** The READ the current DATA packet answers, while its data is copied into its buffer. */
  private target: { id: number; request: BufferedRead & { buffer: Buffer }; done: number } | undefined;

  constructor(private readonly sftp: SFTPInternals) {}

  push(chunk: Buffer | null): void {
    if (chunk === null) return this.sftp.push(null);
    let p = 0;
    while (p < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - p);
        if (this.target) {
          chunk.copy(this.target.request.buffer, this.target.done, p, p + n);
          this.target.done += n;
        } else {
          this.sftp.push(chunk.subarray(p, p + n));
        }
        p += n;
        this.remaining -= n;
        if (this.remaining === 0 && this.target) this.complete();
        continue;
      }
      p = this.readHead(chunk, p);
    }
  }

  /** Gathers the head of a packet (13 bytes, fewer for a shorter packet) and routes the packet. */
  private readHead(chunk: Buffer, p: number): number {
    const need = (): number => (this.headBytes < 4 ? 4 : Math.min(DATA_HEAD, 4 + this.head.readUInt32BE(0)));
    while (p < chunk.length && this.headBytes < need()) {
      const n = Math.min(need() - this.headBytes, chunk.length - p);
      chunk.copy(this.head, this.headBytes, p, p + n);
      this.headBytes += n;
      p += n;
    }
    if (this.headBytes < need()) return p;
    const length = this.head.readUInt32BE(0);
    const have = this.headBytes;
    this.headBytes = 0;
    this.remaining = 4 + length - have;
    if (have === DATA_HEAD && this.head[4] === SSH_FXP_DATA) {
      const id = this.head.readUInt32BE(5);
      const bytes = this.head.readUInt32BE(9);
      const request = this.sftp._requests[id];
      if (request?.buffer && typeof request.cb === 'function' && length === 9 + bytes && bytes <= request.buffer.length) {
        this.target = { id, request: request as BufferedRead & { buffer: Buffer }, done: 0 };
        if (this.remaining === 0) this.complete();
        return p;
      }
    }
    // Anything else is ssh2's to parse; a copy, since it may keep views of what it is given.
    this.sftp.push(Buffer.from(this.head.subarray(0, have)));
    return p;
  }

  /** The whole data is in the READ's buffer: finish the request as ssh2's DATA handler does. */
  private complete(): void {
    const { id, request, done } = this.target!;
    this.target = undefined;
    // Left in `_requests` until now, so that a stream that ends mid-packet fails it (ssh2's cleanup).
    Reflect.deleteProperty(this.sftp._requests, id);
    request.cb!(undefined, request.buffer, done);
  }
}

/**
 * Sends an SFTP WRITE of `data` without copying it: the packet's head (id, handle, offset,
 * length) and the data go out as two pieces, where ssh2's write() would first copy both into
 * a new buffer (an allocation the size of the data, per request, which V8 answers with full
 * garbage collections). The data must stay unchanged until `done` reports success, and for
 * good if it reports failure: a request that timed out may still be on its way. `data` must
 * fit the server's limit (session.maxWrite).
 */
export function writeInPlace(sftp: SFTPInternals, handle: Buffer, data: Buffer, position: number, done: (err?: Error) => void): void {
  if (sftp.outgoing.state !== 'open') {
    process.nextTick(done, new Error('No response from server'));
    return;
  }
  const head = Buffer.allocUnsafe(4 + 1 + 4 + 4 + handle.length + 8 + 4);
  const id = (sftp._writeReqid = (sftp._writeReqid + 1) >>> 0);
  let p = head.writeUInt32BE(head.length - 4 + data.length, 0);
  p = head.writeUInt8(SSH_FXP_WRITE, p);
  p = head.writeUInt32BE(id, p);
  p = head.writeUInt32BE(handle.length, p);
  p += handle.copy(head, p);
  p = head.writeBigUInt64BE(BigInt(position), p);
  head.writeUInt32BE(data.length, p);
  // ssh2's STATUS handler answers it: no error for OK, an Error with the status code otherwise.
  sftp._requests[id] = { cb: (err) => done(err) };
  const send = packetSender(sftp);
  send(head);
  send(data);
}

/**
 * Sends one request that ssh2 has no call for (or cannot encode: ATTRS with extended pairs,
 * kmx's extension) as raw bytes, in order with ssh2's own: `type`, a new request id, then
 * `body`. Its STATUS reply completes it through ssh2's STATUS handler, as writeInPlace's does.
 */
export function sendRequest(sftp: SFTPInternals, type: number, body: readonly Buffer[], done: (err?: Error) => void): void {
  if (sftp.outgoing.state !== 'open') {
    process.nextTick(done, new Error('No response from server'));
    return;
  }
  const length = body.reduce((n, b) => n + b.length, 0);
  const head = Buffer.allocUnsafe(4 + 1 + 4);
  const id = (sftp._writeReqid = (sftp._writeReqid + 1) >>> 0);
  head.writeUInt32BE(1 + 4 + length, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32BE(id, 5);
  sftp._requests[id] = { cb: (err) => done(err) };
  packetSender(sftp)(Buffer.concat([head, ...body]));
}
