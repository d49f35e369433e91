import { posix } from 'node:path';
import { SysError, type Timespec } from '@kmx/core';
import type { Pointer } from './bindings.js';
import type { NfsContext } from './driver.js';
import { statusErrno } from './failures.js';

// RPCs built by hand on a libnfs context's own connection (its credentials, its timeouts), for
// what libnfs 4.0 cannot do itself:
// - it encodes every request but WRITE into a fixed 4 KiB buffer (ZDR_ENCODEBUF_MINSIZE), so a
//   symlink whose target is longer than about 3.9 KiB cannot be made (NFSv3: ENOMEM, v4: EIO).
//   rpc_allocate_pdu2 takes a size hint; the arguments are laid out in C memory here and
//   encoded by libnfs's own zdr_SYMLINK3args / zdr_COMPOUND4args;
// - its statvfs says f_namemax 256 on NFSv3 whatever the server says: PATHCONF asks the server;
// - it changes NFSv4 attributes by path with an OPEN (for writing), a SETATTR and a CLOSE of
//   its own: the caller needs write access even to chmod its own file, a directory or symlink
//   cannot be changed, a refusal throws its open sequence out of step, and the OPEN spoils the
//   mount's own open of the file. A SETATTR after LOOKUPs, with the anonymous stateid, needs none.
// The layouts are libnfs 4.0's on x86_64 (offsets measured with its headers and gcc).

const NFS_PROGRAM = 100003;
const NFS3_SYMLINK = 10;
const NFSPROC4_COMPOUND = 1;
const OP_CREATE = 6;
const OP_LOOKUP = 15;
const OP_PUTFH = 22;
const OP_SETATTR = 34;
/** settime4's time_how4: the server's clock, or the time given. */
const SET_TO_SERVER_TIME4 = 0;
const SET_TO_CLIENT_TIME4 = 1;
const NF4BLK = 3;
const NF4CHR = 4;
const NF4LNK = 5;
const NF4SOCK = 6;
const NF4FIFO = 7;
/** struct rpc_pdu { struct rpc_pdu *next; uint32_t xid; ZDR zdr; … }: where the encoder lives. */
const PDU_ZDR_OFFSET = 16n;
const SIZEOF_SYMLINK3RES = 256;
const SIZEOF_COMPOUND4RES = 40;
const SIZEOF_COMPOUND4ARGS = 40;
const SIZEOF_NFS_ARGOP4 = 136;
/** PATHCONF3res: status, then resok { post_op_attr obj_attributes; uint32 linkmax; uint32 name_max; … }. */
const PATHCONF3RES_NAME_MAX = 108;
/** Targets up to this long go through libnfs's own call (its buffer holds them with room to spare). */
export const LIBNFS_SYMLINK_MAX = 2048;

/**
 * C memory laid out in a JS Buffer first: `put` places a byte string and returns its address,
 * `image` is copied into the block once everything is in place.
 */
class Block {
  readonly image: Buffer;
  private readonly raw: Pointer;
  readonly base: bigint;
  private used: number;

  constructor(private readonly ctx: NfsContext, size: number, fixed: number) {
    const { koffi } = ctx.library;
    this.raw = koffi.alloc('uint8_t', size);
    this.base = koffi.address(this.raw);
    this.image = Buffer.alloc(size);
    this.used = fixed;
  }

  /** Places `bytes` (NUL-terminated) after the fixed part; its address. */
  put(bytes: Buffer): bigint {
    const at = this.used;
    bytes.copy(this.image, at);
    this.used = (at + bytes.length + 1 + 7) & ~7;
    return this.base + BigInt(at);
  }

  ptr(offset: number, address: bigint): void {
    this.image.writeBigUInt64LE(address, offset);
  }

  u32(offset: number, value: number): void {
    this.image.writeUInt32LE(value >>> 0, offset);
  }

  /** Copies the image into C memory; the address of the block. */
  commit(): bigint {
    this.ctx.library.memcpy(this.raw, this.image, this.image.length);
    return this.base;
  }

  free(): void {
    this.ctx.library.koffi.free(this.raw);
  }
}

/**
 * Queues a call to NFS procedure `procedure` whose arguments `encode` writes into the PDU's
 * encoder (libnfs's zdr_* function for them); `decode` reads the status-first reply.
 */
function rawNfsCall(ctx: NfsContext, what: string, path: string, version: 3 | 4, procedure: number, decoder: Pointer, decodeSize: number, hint: number, encode: (zdr: bigint) => number): Promise<void> {
  const lib = ctx.library;
  return ctx.rawCall(what, (rpc, cb, id) => {
    const pdu = lib.allocate_pdu2(rpc, NFS_PROGRAM, version, procedure, cb, id, decoder, decodeSize, hint);
    if (!pdu) return -1;
    if (!encode(lib.koffi.address(pdu) + PDU_ZDR_OFFSET)) {
      lib.free_pdu(rpc, pdu);
      return -1;
    }
    return Number(lib.queue_pdu(rpc, pdu));
  }, (data) => {
    const status = Number(lib.koffi.decode(data, 'uint32_t'));
    if (status !== 0) throw new SysError(statusErrno(status), what, path, { detail: `the server refused it (status ${status})` });
  });
}

/** The bytes of a libnfs struct nfs_fh { int len; char *val; } at `fh`. */
export function fileHandleBytes(ctx: NfsContext, fh: Pointer): Buffer {
  const { koffi, memcpy } = ctx.library;
  const len = Number(koffi.decode(fh, 'int'));
  const val = koffi.decode(fh, 8, 'void *') as Pointer;
  const bytes = Buffer.alloc(len);
  if (len > 0) memcpy(bytes, val, len);
  return bytes;
}

/** NFSv3 SYMLINK in the directory whose file handle is `dirFh`. */
export function symlinkV3(ctx: NfsContext, dirFh: Buffer, name: string, target: string, path: string): Promise<void> {
  const targetBytes = Buffer.from(target);
  const nameBytes = Buffer.from(name);
  const block = new Block(ctx, 96 + dirFh.length + nameBytes.length + targetBytes.length + 64, 96);
  try {
    // SYMLINK3args { diropargs3 where { nfs_fh3 dir; filename3 name }; symlinkdata3 { sattr3; nfspath3 } }
    block.u32(0, dirFh.length);
    block.ptr(8, block.put(dirFh));
    block.ptr(16, block.put(nameBytes));
    block.u32(24, 1); // sattr3.mode.set_it
    block.u32(28, 0o777); // as libnfs's own symlink sets it
    block.ptr(88, block.put(targetBytes));
    const args = block.commit();
    const lib = ctx.library;
    return rawNfsCall(ctx, 'symlink', path, 3, NFS3_SYMLINK, lib.zdr_SYMLINK3res, SIZEOF_SYMLINK3RES, block.image.length + 1024, (zdr) => Number(lib.zdr_SYMLINK3args(zdr, args)));
  } finally {
    block.free(); // encoded by now (or never to be)
  }
}

/**
 * An NFSv4 COMPOUND { PUTFH root; LOOKUP each of `components`; OP } on `ctx`; `op` fills the last
 * operation's arguments (at `at`, its union) and says how many bytes of data it places.
 */
function compoundV4(ctx: NfsContext, what: string, path: string, components: readonly string[], opcode: number, extra: number, op: (block: Block, at: number, bytes: (at: number, value: Buffer) => void) => void): Promise<void> {
  const lib = ctx.library;
  const root = fileHandleBytes(ctx, lib.get_rootfh(ctx.raw));
  const ops = 2 + components.length;
  const fixed = SIZEOF_COMPOUND4ARGS + ops * SIZEOF_NFS_ARGOP4;
  const block = new Block(ctx, fixed + root.length + components.reduce((n, c) => n + Buffer.byteLength(c) + 8, 0) + extra + 256, fixed);
  try {
    // COMPOUND4args { utf8str_cs tag; uint32 minorversion; { u_int len; nfs_argop4 *val } argarray }
    block.u32(24, ops);
    block.ptr(32, block.base + BigInt(SIZEOF_COMPOUND4ARGS));
    const argop = (i: number): number => SIZEOF_COMPOUND4ARGS + i * SIZEOF_NFS_ARGOP4; // { uint32 argop; union at +8 }
    const bytes = (at: number, value: Buffer): void => {
      block.u32(at, value.length);
      block.ptr(at + 8, block.put(value));
    };
    block.u32(argop(0), OP_PUTFH);
    bytes(argop(0) + 8, root);
    components.forEach((name, i) => {
      block.u32(argop(1 + i), OP_LOOKUP);
      bytes(argop(1 + i) + 8, Buffer.from(name));
    });
    block.u32(argop(ops - 1), opcode);
    op(block, argop(ops - 1) + 8, bytes);
    const args = block.commit();
    return rawNfsCall(ctx, what, path, 4, NFSPROC4_COMPOUND, lib.zdr_COMPOUND4res, SIZEOF_COMPOUND4RES, block.image.length + 1024, (zdr) => Number(lib.zdr_COMPOUND4args(zdr, args)));
  } finally {
    block.free(); // encoded by now (or never to be)
  }
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

/** NFSv4 COMPOUND { PUTFH root; LOOKUP each directory; CREATE NF4LNK } for `path` (relative to the export's root). */
export function symlinkV4(ctx: NfsContext, path: string, target: string): Promise<void> {
  const targetBytes = Buffer.from(target);
  return compoundV4(ctx, 'symlink', path, components(posix.dirname(path)), OP_CREATE, targetBytes.length + 512, (block, at, bytes) => {
    // CREATE4args { createtype4 { type; linkdata } objtype; component4 objname; fattr4 createattrs }
    block.u32(at, NF4LNK);
    bytes(at + 8, targetBytes);
    bytes(at + 24, Buffer.from(posix.basename(path)));
    fattr(block, at + 40, { mode: 0o777 });
  });
}

/**
 * NFSv4 CREATE of a FIFO, socket or device node (libnfs 4.0 makes only devices, and through
 * its own path walk): `rdev` as the kernel encodes it (new_encode_dev).
 */
export function mknodV4(ctx: NfsContext, path: string, mode: number, rdev: number): Promise<void> {
  const types: Record<number, number> = { 0o010000: NF4FIFO, 0o140000: NF4SOCK, 0o020000: NF4CHR, 0o060000: NF4BLK };
  const type = types[mode & 0o170000];
  if (type === undefined) return Promise.reject(SysError.of('EINVAL', 'mknod', path, { detail: 'not a FIFO, socket or device' }));
  return compoundV4(ctx, 'mknod', path, components(posix.dirname(path)), OP_CREATE, 256, (block, at, bytes) => {
    // CREATE4args { createtype4 { type; specdata4 devdata for devices } objtype; component4 objname; fattr4 createattrs }
    block.u32(at, type);
    if (type === NF4CHR || type === NF4BLK) {
      block.u32(at + 8, (rdev >>> 8) & 0xfff); // major
      block.u32(at + 12, (rdev & 0xff) | ((rdev >>> 12) & 0xfff00)); // minor
    }
    bytes(at + 24, Buffer.from(posix.basename(path)));
    fattr(block, at + 40, { mode: mode & 0o7777 });
  });
}

/** What a SETATTR changes; a time is the server's clock ('now') or the one given. */
export interface Attributes {
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
}

/** An fattr4 { bitmap4 attrmask; attrlist4 attr_vals } at `at`, values XDR-encoded in attribute order. */
function fattr(block: Block, at: number, a: Attributes): void {
  const words = [0, 0];
  const values: Buffer[] = [];
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return b;
  };
  const text = (t: string): Buffer => {
    const raw = Buffer.from(t);
    return Buffer.concat([u32(raw.length), raw, Buffer.alloc((4 - (raw.length % 4)) % 4)]);
  };
  const time = (t: Timespec | 'now'): Buffer => {
    if (t === 'now') return u32(SET_TO_SERVER_TIME4);
    const b = Buffer.alloc(16);
    b.writeUInt32BE(SET_TO_CLIENT_TIME4, 0);
    b.writeBigInt64BE(BigInt(t.sec), 4);
    b.writeUInt32BE(t.nsec >>> 0, 12);
    return b;
  };
  const set = (attr: number, value: Buffer): void => {
    words[attr >> 5]! |= 1 << (attr & 31);
    values.push(value);
  };
  if (a.size !== undefined) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(a.size));
    set(4, b); // FATTR4_SIZE
  }
  if (a.mode !== undefined) set(33, u32(a.mode & 0o7777)); // FATTR4_MODE
  // Owners as numbers, as libnfs 4.0 sends them (the server must take numeric owners).
  if (a.uid !== undefined && a.uid !== -1) set(36, text(String(a.uid))); // FATTR4_OWNER
  if (a.gid !== undefined && a.gid !== -1) set(37, text(String(a.gid))); // FATTR4_OWNER_GROUP
  if (a.atime !== undefined) set(48, time(a.atime)); // FATTR4_TIME_ACCESS_SET
  if (a.mtime !== undefined) set(54, time(a.mtime)); // FATTR4_TIME_MODIFY_SET
  const bitmap = Buffer.alloc(8);
  bitmap.writeUInt32LE(words[0]!, 0);
  bitmap.writeUInt32LE(words[1]!, 4);
  block.u32(at, 2);
  block.ptr(at + 8, block.put(bitmap));
  const list = Buffer.concat(values);
  block.u32(at + 16, list.length);
  block.ptr(at + 24, block.put(list));
}

/**
 * NFSv4 SETATTR of the object at `path` itself (a symlink is not followed), with the anonymous
 * stateid: no OPEN, so nothing of the open sequence is involved.
 */
export function setattrV4(ctx: NfsContext, path: string, attributes: Attributes): Promise<void> {
  return compoundV4(ctx, 'setattr', path, components(path), OP_SETATTR, 256, (block, at) => {
    // SETATTR4args { stateid4 stateid (all zero: anonymous); fattr4 obj_attributes }
    fattr(block, at + 16, attributes);
  });
}

/** NFSv3 PATHCONF of the export's root: the longest name the server takes. */
export function nameMaxV3(ctx: NfsContext): Promise<number> {
  const lib = ctx.library;
  // PATHCONF3args { nfs_fh3 object } has the layout of libnfs's struct nfs_fh { int len; char *val; }.
  return ctx.rawCall('pathconf', (rpc, cb, id) => Number(lib.nfs3_pathconf_async(rpc, cb, lib.get_rootfh(ctx.raw), id)), (data) => {
    const status = Number(lib.koffi.decode(data, 'uint32_t'));
    if (status !== 0) throw new SysError(statusErrno(status), 'pathconf', '/');
    return Number(lib.koffi.decode(data, PATHCONF3RES_NAME_MAX, 'uint32_t'));
  });
}
