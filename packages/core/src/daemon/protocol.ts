import { kmxd } from './gen/kmxd.js';

// The wire format of kmxd: varint-length-prefixed protobuf frames (static generated code only;
// no schema is parsed at run time).

export { kmxd };
export type Request = kmxd.Request;
export type Response = kmxd.Response;
export type MountEntryMessage = kmxd.MountEntry.$Properties;

/** The protocol version this build speaks; kmxd answers any other with EPROTO. */
export const PROTOCOL_VERSION = 1;
/** The largest frame body either side accepts. Three varint bytes cover it. */
export const MAX_FRAME = 64 * 1024;

/** A frame that breaks the rules: the connection is closed after one error reply. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Takes one frame off the front of `buf`: null while incomplete. The length is checked
 * against the cap before anything of the body is kept, so an announced 4 GiB frame costs
 * three bytes, not 4 GiB.
 */
export function takeFrame(buf: Buffer): { body: Buffer; rest: Buffer } | null {
  let length = 0;
  for (let i = 0; i < 3; i++) {
    const byte = buf[i];
    if (byte === undefined) return null;
    length += (byte & 0x7f) * 2 ** (7 * i);
    if (byte & 0x80) continue;
    if (length > MAX_FRAME) throw new FrameError(`frame of ${length} bytes exceeds ${MAX_FRAME}`);
    const end = i + 1 + length;
    return buf.length < end ? null : { body: buf.subarray(i + 1, end), rest: buf.subarray(end) };
  }
  throw new FrameError('frame length longer than 3 bytes');
}

/** A reader that accumulates socket chunks and yields whole frames; never buffers more than one frame. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  /** Appends `chunk` and returns the complete frame bodies now available. Throws FrameError. */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const bodies: Buffer[] = [];
    for (let frame = takeFrame(this.pending); frame; frame = takeFrame(this.pending)) {
      bodies.push(Buffer.from(frame.body));
      this.pending = frame.rest;
    }
    if (this.pending.length > MAX_FRAME + 3) throw new FrameError('frame larger than the cap');
    return bodies;
  }

  /** Bytes of a frame begun and not yet complete. */
  get partial(): number {
    return this.pending.length;
  }
}

function frame(body: Uint8Array): Buffer {
  if (body.length > MAX_FRAME) throw new FrameError(`message of ${body.length} bytes exceeds ${MAX_FRAME}`);
  const header: number[] = [];
  let n = body.length;
  do {
    header.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.concat([Buffer.from(header), body]);
}

export function encodeRequest(request: kmxd.Request.$Properties): Buffer {
  return frame(kmxd.Request.encode(request).finish());
}

export function encodeResponse(response: kmxd.Response.$Properties): Buffer {
  return frame(kmxd.Response.encode(response).finish());
}

/** Decodes a request body; a malformed one throws FrameError (the connection is then closed). */
export function decodeRequest(body: Buffer): Request {
  try {
    return kmxd.Request.decode(body);
  } catch (err) {
    throw new FrameError(`malformed request: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function decodeResponse(body: Buffer): Response {
  try {
    return kmxd.Response.decode(body);
  } catch (err) {
    throw new FrameError(`malformed response: ${err instanceof Error ? err.message : String(err)}`);
  }
}
