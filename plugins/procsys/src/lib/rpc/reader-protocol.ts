import { deserialize, serialize } from 'node:v8';
import type { Attr as WireAttr, LinkReply, ListReply, ReadReply, StatReply } from './generated/procsys.js';

// The pipe between the agent and its unprivileged reader (reader-child.ts): each message is a
// 32-bit little-endian length and a V8-serialized value. Requests carry an id; the reader
// answers them in order, each answer carrying its request's id. Neither side imports
// @kmx/core here: the reader must start fast and hold as little as it can.

export type ReaderRequest =
  | { id: number; op: 'stat'; path: string; follow: boolean }
  | { id: number; op: 'list'; paths: string[] }
  | { id: number; op: 'readlink'; path: string }
  | { id: number; op: 'read'; paths: string[]; offset: number; length: number };

/** A request before the reader's side gave it an id. */
export type ReaderQuery = ReaderRequest extends infer R ? (R extends ReaderRequest ? Omit<R, 'id'> : never) : never;

/**
 * A listing as the reader sends it: the records of kmx-dirlist (packages/core/native/kmx-dirlist.c),
 * back to back, each 8-byte aligned: 88 bytes of attributes, a u16 name length, a u8 "has
 * attributes", a pad byte, the name. The reader writes them in one native call per directory
 * (getdents64 and an fstatat per entry), or the same layout from Node's fs where the library is
 * not built; thousands of entries (ListMany over every process) then travel as bytes.
 */
export interface PackedList {
  error: string;
  records: Buffer;
}

export const RECORD_HEADER = 92;

/** Writes one record at `at` (the JavaScript lister's side); returns where the next one goes. */
export function putRecord(out: Buffer, at: number, name: string, attr: WireAttr | undefined): number {
  const nameBytes = Buffer.byteLength(name);
  out.fill(0, at, at + RECORD_HEADER);
  if (attr) {
    const u64 = (offset: number, v: number): void => {
      out.writeUInt32LE(v % 0x1_0000_0000, at + offset);
      out.writeUInt32LE(Math.floor(v / 0x1_0000_0000), at + offset + 4);
    };
    u64(0, attr.ino);
    u64(8, attr.size);
    u64(32, attr.atimeSec);
    u64(40, attr.mtimeSec);
    u64(48, attr.ctimeSec);
    out.writeUInt32LE(attr.atimeNsec, at + 56);
    out.writeUInt32LE(attr.mtimeNsec, at + 60);
    out.writeUInt32LE(attr.ctimeNsec, at + 64);
    out.writeUInt32LE(attr.mode, at + 68);
    out.writeUInt32LE(attr.nlink, at + 72);
    out.writeUInt32LE(attr.uid, at + 76);
    out.writeUInt32LE(attr.gid, at + 80);
    out[at + 90] = 1;
  }
  out.writeUInt16LE(nameBytes, at + 88);
  out.write(name, at + RECORD_HEADER);
  return at + ((RECORD_HEADER + nameBytes + 7) & ~7);
}

/** The entries of a listing's records; throws on records that do not add up. */
export function unpackList(packed: PackedList): ListReply {
  if (packed.error) return { error: packed.error, entries: [] };
  const buf = packed.records;
  if (!Buffer.isBuffer(buf)) throw new Error('a listing without records');
  const entries: ListReply['entries'] = [];
  const u64 = (at: number): number => buf.readUInt32LE(at + 4) * 0x1_0000_0000 + buf.readUInt32LE(at);
  for (let at = 0; at < buf.length;) {
    if (at + RECORD_HEADER > buf.length) throw new Error('a listing cut short');
    const length = buf.readUInt16LE(at + 88);
    if (at + RECORD_HEADER + length > buf.length) throw new Error('a listing cut short');
    const name = buf.toString('utf8', at + RECORD_HEADER, at + RECORD_HEADER + length);
    entries.push({
      name,
      attr: buf[at + 90] === 0 ? undefined : {
        mode: buf.readUInt32LE(at + 68), nlink: buf.readUInt32LE(at + 72), uid: buf.readUInt32LE(at + 76), gid: buf.readUInt32LE(at + 80),
        size: u64(at + 8), ino: u64(at), atimeSec: u64(at + 32), atimeNsec: buf.readUInt32LE(at + 56),
        mtimeSec: u64(at + 40), mtimeNsec: buf.readUInt32LE(at + 60), ctimeSec: u64(at + 48), ctimeNsec: buf.readUInt32LE(at + 64),
      },
    });
    at += (RECORD_HEADER + length + 7) & ~7;
  }
  return { error: '', entries };
}

export type ReaderAnswer =
  | { id: number; stat: StatReply }
  | { id: number; lists: PackedList[] }
  | { id: number; link: LinkReply }
  | { id: number; files: ReadReply[] }
  /** The request could not be carried out at all (not a file operation's errno). */
  | { id: number; failed: string };

/** The reader's first message, once it has dropped what it had to drop. */
export interface ReaderReady {
  ready: true;
  uid: number;
  gid: number;
  pid: number;
}

/** A message larger than this ends the pipe: neither side sends one (4 MiB reads × 8192 are cut before). */
export const MAX_FRAME = 512 * 1024 * 1024;

export type { WireAttr };

export function frame(value: unknown): Buffer {
  const body = serialize(value);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(body.length, 0);
  return Buffer.concat([head, body], 4 + body.length);
}

/** Splits a byte stream into messages; `take` receives each whole one. */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the first pending message needs in all (head included), once its head arrived. */
  private needed = 4;

  constructor(private readonly take: (message: unknown) => void) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // A large message arrives in many chunks: they are joined once, when it is whole.
    if (this.pendingBytes < this.needed) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    let at = 0;
    this.needed = 4;
    while (data.length - at >= 4) {
      const length = data.readUInt32LE(at);
      if (length > MAX_FRAME) throw new Error(`a message of ${length} bytes`);
      if (data.length - at - 4 < length) {
        this.needed = 4 + length;
        break;
      }
      this.take(deserialize(data.subarray(at + 4, at + 4 + length)));
      at += 4 + length;
    }
    const rest = data.subarray(at);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
  }
}
