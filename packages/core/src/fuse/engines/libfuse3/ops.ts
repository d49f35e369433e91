import { koffi } from '../../../libc/library.js';
import type { FuseOptions } from '../../options.js';
import type { CallbackKind, Libfuse3, Pointer } from './bindings.js';
import type { ReceiveBuffer } from './buffers.js';
import { OP_INDEX, OPS_COUNT, type LowlevelOp } from './layout.js';
import { directoryOps } from './ops-dirs.js';
import { fileOps } from './ops-files.js';
import { nameOps } from './ops-names.js';
import { nodeOps } from './ops-nodes.js';
import { xattrOps } from './ops-xattr.js';
import type { Requests } from './requests.js';

/** A lowlevel op implemented in JS; its arguments are those of its C prototype (bindings.ts). */
export type OpHandler = (...args: never[]) => void;
/** Ops left out (undefined) stay NULL in the table: libfuse answers them ENOSYS, or does without. */
export type OpHandlers = Partial<Record<LowlevelOp, OpHandler | undefined>>;

const KIND: Partial<Record<LowlevelOp, CallbackKind>> = {
  init: 'init', lookup: 'name', forget: 'forget', getattr: 'fileInfo', setattr: 'setattr', readlink: 'ino',
  mknod: 'mknod', mkdir: 'mkdir', unlink: 'name', rmdir: 'name', symlink: 'symlink', rename: 'rename', link: 'link',
  open: 'fileInfo', read: 'io', write: 'write', flush: 'fileInfo', release: 'fileInfo', fsync: 'sync',
  opendir: 'fileInfo', readdir: 'io', releasedir: 'fileInfo', fsyncdir: 'sync', statfs: 'ino',
  setxattr: 'setxattr', getxattr: 'getxattr', listxattr: 'listxattr', removexattr: 'name', access: 'access',
  create: 'create', forget_multi: 'forgetMulti', readdirplus: 'io', fallocate: 'fallocate',
};

/** Every op handler of a session: what its filesystem implements, plus what the engine itself needs. */
export function allOps(r: Requests, options: FuseOptions, receive: ReceiveBuffer, init: OpHandler): OpHandlers {
  return { init, ...nodeOps(r), ...nameOps(r), ...fileOps(r, options, receive), ...directoryOps(r), ...xattrOps(r) };
}

/**
 * `struct fuse_lowlevel_ops` in C memory, each present op a koffi registered callback (a
 * limited resource: at most 8192 per process, so they are registered once per session and
 * unregistered when it is gone).
 */
export class OpsTable {
  readonly pointer: Pointer;
  private readonly registered: bigint[] = [];

  constructor(private readonly lib: Libfuse3, handlers: OpHandlers) {
    const k = koffi();
    this.pointer = lib.calloc(OPS_COUNT, 8) as Pointer;
    if (!this.pointer) throw new Error('out of memory for the FUSE ops table');
    for (const [op, handler] of Object.entries(handlers) as [LowlevelOp, OpHandler | undefined][]) {
      const kind = KIND[op];
      if (!handler || !kind) continue;
      const callback = k.register(handler, k.pointer(lib.proto[kind]));
      this.registered.push(callback);
      k.encode(this.pointer, OP_INDEX[op] * 8, 'void *', callback);
    }
  }

  /** After fuse_session_destroy (which may still call ops). */
  dispose(): void {
    for (const callback of this.registered.splice(0)) koffi().unregister(callback);
    this.lib.free(this.pointer);
  }
}
