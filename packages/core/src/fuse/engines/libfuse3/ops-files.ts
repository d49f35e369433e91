import { constants } from 'node:fs';
import type { FuseOptions } from '../../options.js';
import type { Attr, OpenReply } from '../../types.js';
import type { Pointer } from './bindings.js';
import { ReadBuffers, type Loan, type ReceiveBuffer } from './buffers.js';
import { runOperation } from '../../engine.js';
import { FI_DIRECT_IO, FI_KEEP_CACHE, FI_NONSEEKABLE } from './layout.js';
import { childPath, type Node } from './nodes.js';
import { ENOENT, checkHandle, type Requests } from './requests.js';
import type { OpHandlers } from './ops.js';

/** The reply bits of an open: the mount's options, then what the filesystem asked for this file. */
export function openBits(options: FuseOptions, reply: OpenReply | undefined): number {
  let bits = 0;
  if (options.directIo || reply?.directIo) bits |= FI_DIRECT_IO;
  if (options.kernelCache || reply?.keepCache) bits |= FI_KEEP_CACHE;
  if (reply?.nonSeekable) bits |= FI_NONSEEKABLE;
  return bits;
}

/**
 * With the writeback cache the kernel reads parts of pages it writes back, even of files
 * opened write-only, and it positions O_APPEND writes itself: open for reading and writing,
 * without O_APPEND (as libfuse's passthrough_ll does).
 */
function writebackFlags(flags: number): number {
  let adjusted = flags & ~constants.O_APPEND;
  if ((adjusted & 3) === constants.O_WRONLY) adjusted = (adjusted & ~3) | constants.O_RDWR;
  return adjusted;
}

/** OPEN, CREATE, READ, WRITE, FLUSH, RELEASE, FSYNC: the ops on open files. */
export function fileOps(r: Requests, options: FuseOptions, receive: ReceiveBuffer): OpHandlers {
  const { fs, nodes } = r;
  const readBuffers = new ReadBuffers();
  const flagsFor = (flags: number): number => (options.writebackCache ? writebackFlags(flags) : flags);

  /** The node and file handle of a request on an open file. */
  const openFile = (req: Pointer, id: number, fi: Pointer): [Node, number] | undefined => {
    const node = r.node(req, id);
    if (!node) return undefined;
    r.readFileInfo(fi);
    return [node, r.fileHandle()];
  };

  return {
    open: r.guard('open', (req, id: number, fi: Pointer) => {
      const node = r.node(req, id);
      if (!node) return;
      if (node.orphan) return r.err(req, ENOENT);
      r.readFileInfo(fi);
      const flags = flagsFor(r.openFlags());
      if (!fs.open) return r.replyOpen(req, 0, openBits(options, undefined));
      r.run(req, 'open', node.path, () => fs.open!(node.path, flags, r.caller(req)), (reply: OpenReply) => {
        const fh = checkHandle(reply.fh, 'open');
        nodes.addHandle(node, fh);
        r.replyOpen(req, fh, openBits(options, reply));
      });
    }),

    create: fs.create && r.guard('create', (req, parentId: number, name: string, mode: number, fi: Pointer) => {
      const parent = r.node(req, parentId);
      if (!parent) return;
      if (parent.orphan) return r.err(req, ENOENT);
      r.readFileInfo(fi);
      const flags = flagsFor(r.openFlags());
      const path = childPath(parent, name);
      const caller = r.caller(req);
      r.run(req, 'create', path, () => fs.create!(path, mode, flags, caller), (reply: OpenReply) => {
        const fh = checkHandle(reply.fh, 'create');
        r.run(req, 'create', path, () => fs.getattr(path, fh, caller), (attr: Attr) => {
          const node = nodes.remember(parent, name, attr);
          nodes.addHandle(node, fh);
          r.replyCreate(req, node, attr, fh, openBits(options, reply));
        });
      });
    }),

    read: fs.read && r.guard('read', (req, id: number, size: number, offset: number, fi: Pointer) => {
      const file = openFile(req, id, fi);
      if (!file) return;
      const [node, fh] = file;
      const buffer = readBuffers.take(size);
      r.run(req, 'read', node.path, () => fs.read!(node.path, fh, buffer, offset, r.caller(req)), (n: number) => {
        if (!Number.isInteger(n) || n < 0 || n > size) throw new Error(`read returned ${n} for a ${size}-byte request`);
        r.replyBuffer(req, buffer, n);
        readBuffers.give(buffer); // a failed read's buffer is left to the garbage collector
      });
    }),

    write: fs.write && r.guard('write', (req, id: number, data: Pointer, size: number, offset: number, fi: Pointer) => {
      const file = openFile(req, id, fi);
      if (!file) return;
      const [node, fh] = file;
      // The data stays in libfuse's receive buffer, not copied; ReceiveBuffer explains its lifetime.
      const view = receive.dataView(data, size);
      let answered = false;
      let loan: Loan | undefined;
      const answer = (reply: () => void): void => {
        try {
          reply();
        } finally {
          answered = true;
          if (loan) receive.giveBack(loan);
          loan = undefined;
        }
      };
      runOperation('write', node.path, r.log, () => fs.write!(node.path, fh, view, offset, r.caller(req)), (errno, n) => answer(() => {
        if (errno) return r.err(req, errno);
        if (!Number.isInteger(n) || n! < 0 || n! > size) throw new Error(`write returned ${n} for a ${size}-byte request`);
        r.replyWrite(req, n!);
      }));
      if (!answered) loan = receive.lend();
    }),

    flush: fs.flush && r.guard('flush', (req, id: number, fi: Pointer) => {
      const file = openFile(req, id, fi);
      if (!file) return;
      const [node, fh] = file;
      r.run(req, 'flush', node.path, () => fs.flush!(node.path, fh, r.caller(req)), () => r.err(req, 0));
    }),

    release: r.guard('release', (req, id: number, fi: Pointer) => {
      const file = openFile(req, id, fi);
      if (!file) return;
      const [node, fh] = file;
      nodes.removeHandle(node, fh);
      if (!fs.release) return r.err(req, 0);
      r.run(req, 'release', node.path, () => fs.release!(node.path, fh, r.caller(req)), () => r.err(req, 0));
    }),

    fsync: fs.fsync && r.guard('fsync', (req, id: number, datasync: number, fi: Pointer) => {
      const file = openFile(req, id, fi);
      if (!file) return;
      const [node, fh] = file;
      r.run(req, 'fsync', node.path, () => fs.fsync!(node.path, fh, datasync !== 0, r.caller(req)), () => r.err(req, 0));
    }),

    fallocate: fs.fallocate && r.guard('fallocate', (req, id: number, mode: number, offset: number | bigint, length: number | bigint, fi: Pointer) => {
      const file = openFile(req, id, fi);
      if (!file) return;
      const [node, fh] = file;
      r.run(req, 'fallocate', node.path, () => fs.fallocate!(node.path, fh, mode, Number(offset), Number(length), r.caller(req)), () => r.err(req, 0));
    }),
  };
}
