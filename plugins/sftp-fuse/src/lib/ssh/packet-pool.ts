import { randomFillSync } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { Client } from 'ssh2';

/**
 * Recycled buffers for outgoing SSH packets. ssh2 allocates a new buffer for every packet it
 * sends, one per 32 KiB of file data written; V8 counts each as external memory and answers
 * with full garbage collections (one per ~15 MiB written). Here the cipher takes its packets
 * from a pool, and the socket gives each back once the kernel has it. Measured: a mount's
 * first 256 MiB write took 700–990 ms of CPU instead of 950–980; sustained writes did not
 * change.
 *
 * Only ssh2's AES-GCM binding is taught this (kmx's preferred cipher; its packet layout is
 * known: length, padding length, payload, random padding, 16-byte tag, encrypted in place).
 * Any other cipher, and every packet larger than a slab, keeps ssh2's own allocation. A rekey
 * installs a new cipher object, which is taught again on 'handshake'. ssh2 internals, pinned
 * with the SFTP adapter (adapter.ts).
 */

/** Room for a full channel packet (OpenSSH's 32 KiB of data) with its SSH framing and tag. */
const SLAB_BYTES = 33 * 1024;
/** Smaller packets come from Node's shared 8 KiB pool already. */
const SMALLEST_POOLED = 4 * 1024;
const GCM_BLOCK = 16;
const GCM_TAG = 16;

interface Ssh2Cipher {
  allocPacket(payloadLen: number): Buffer;
  encrypt(packet: Buffer): void;
}

export interface PacketPoolStats {
  /** Slabs allocated. */
  created: number;
  /** Packets served from a slab given back. */
  reused: number;
}

export class PacketPool {
  private readonly free: Buffer[] = [];
  /** Slabs handed out and not yet given back, by their memory. */
  private readonly out = new Map<ArrayBufferLike, Buffer>();
  readonly stats: PacketPoolStats = { created: 0, reused: 0 };

  constructor(private readonly maxFree = 64) {}

  /** A buffer of exactly `bytes`, from a slab when it fits one. */
  take(bytes: number): Buffer {
    if (bytes < SMALLEST_POOLED || bytes > SLAB_BYTES) return Buffer.allocUnsafe(bytes);
    let slab = this.free.pop();
    if (slab) this.stats.reused++;
    else {
      slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.stats.created++;
    }
    this.out.set(slab.buffer, slab);
    return slab.subarray(0, bytes);
  }

  /** Gives back the slab under `packet`, if it is one of ours and out; nothing otherwise. */
  give(packet: Buffer): void {
    const slab = this.out.get(packet.buffer);
    if (!slab) return;
    this.out.delete(packet.buffer);
    if (this.free.length < this.maxFree) this.free.push(slab);
  }

  owns(packet: Buffer): boolean {
    return this.out.has(packet.buffer);
  }
}

/**
 * Random bytes for packet padding, drawn from the CSPRNG 16 KiB at a time and each used once:
 * one randomFillSync per packet (4–19 bytes) took ~8 µs, 5 % of kmx's CPU in an untar.
 */
class PaddingSource {
  private readonly bytes = Buffer.allocUnsafeSlow(16 * 1024);
  private used = this.bytes.length;

  fill(into: Buffer, offset: number, length: number): void {
    if (this.used + length > this.bytes.length) {
      randomFillSync(this.bytes);
      this.used = 0;
    }
    this.bytes.copy(into, offset, this.used, this.used + length);
    this.used += length;
  }
}

const padding = new PaddingSource();

/** An SSH packet for AES-GCM, laid out as ssh2's AESGCMCipherBinding.allocPacket lays it out. */
export function gcmPacket(take: (bytes: number) => Buffer, payloadLen: number): Buffer {
  let packetLen = 4 + 1 + payloadLen;
  // The padded part after the length field is a whole number of blocks, with ≥ 4 bytes of padding.
  let padLen = GCM_BLOCK - ((packetLen - 4) & (GCM_BLOCK - 1));
  if (padLen < 4) padLen += GCM_BLOCK;
  packetLen += padLen;
  const packet = take(packetLen + GCM_TAG);
  packet.writeUInt32BE(packetLen - 4, 0);
  packet[4] = padLen;
  padding.fill(packet, 5 + payloadLen, padLen);
  return packet;
}

/**
 * Makes `client`'s AES-GCM cipher allocate from a pool and `socket` (the connection's own)
 * return each packet once written. Call before connecting.
 */
export function recycleOutgoingPackets(client: Client, socket: Writable, pool = new PacketPool()): PacketPool {
  const taught = new WeakSet<object>();
  const teach = (): void => {
    const cipher = (client as unknown as { _protocol?: { _cipher?: Ssh2Cipher } })._protocol?._cipher;
    if (!cipher || taught.has(cipher) || cipher.constructor.name !== 'AESGCMCipherBinding') return;
    taught.add(cipher);
    const take = (bytes: number): Buffer => pool.take(bytes);
    cipher.allocPacket = (payloadLen) => gcmPacket(take, payloadLen);
  };
  client.on('handshake', teach);
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    // ssh2 writes packets without a callback; a slab goes back only once written successfully
    // (a failed write's buffer may still be referenced by the request that failed).
    if (rest.length === 0 && Buffer.isBuffer(chunk) && pool.owns(chunk)) {
      return write(chunk, (err?: Error | null) => {
        if (!err) pool.give(chunk);
      });
    }
    return write(chunk, ...rest);
  }) as Writable['write'];
  return pool;
}
