import type { Attr, MaybePromise, TimeUpdate, Timespec } from '../../types.js';
import type { Pointer } from './bindings.js';
import { FORGET_DATA_SIZE, SET_ATTR, STAT_SIZE, get64, readSetattr, scratch } from './layout.js';
import { childPath, type Node } from './nodes.js';
import { ENOENT, ENOSYS, type Requests } from './requests.js';
import type { OpHandlers } from './ops.js';

/** LOOKUP, FORGET, GETATTR, SETATTR, READLINK, ACCESS, STATFS: the ops about one node. */
export function nodeOps(r: Requests): OpHandlers {
  const { fs, nodes, lib } = r;
  const setattrScratch = scratch(STAT_SIZE);
  let forgetScratch = scratch(FORGET_DATA_SIZE * 64);

  /**
   * The handle GETATTR or SETATTR works through: the caller's open file, or for an orphan
   * (unlinked while open, so without a path) any handle still open on it; null once it has none.
   */
  const handleFor = (node: Node, fi: Pointer | null): number | undefined | null => {
    if (fi) {
      r.readFileInfo(fi);
      return r.fileHandle();
    }
    if (!node.orphan) return undefined;
    return nodes.anyHandle(node) ?? null;
  };

  return {
    lookup: r.guard('lookup', (req, parentId: number, name: string) => {
      const parent = r.node(req, parentId);
      if (!parent) return;
      if (parent.orphan) return r.err(req, ENOENT);
      const path = childPath(parent, name);
      r.run(req, 'lookup', path, () => fs.getattr(path, undefined, r.caller(req)), (attr: Attr) => {
        r.replyEntry(req, nodes.remember(parent, name, attr), attr);
      });
    }),

    forget: r.guard('forget', (req, id: number, count: number) => {
      nodes.forget(id, count);
      r.none(req);
    }),

    forget_multi: r.guard('forget_multi', (req, count: number, forgets: Pointer) => {
      if (forgetScratch.buffer.length < count * FORGET_DATA_SIZE) forgetScratch = scratch(count * FORGET_DATA_SIZE);
      lib.memcpy_in(forgetScratch.buffer, forgets, count * FORGET_DATA_SIZE);
      for (let i = 0; i < count; i++) nodes.forget(get64(forgetScratch.u32, i * 4), get64(forgetScratch.u32, i * 4 + 2));
      r.none(req);
    }),

    getattr: r.guard('getattr', (req, id: number, fi: Pointer | null) => {
      const node = r.node(req, id);
      if (!node) return;
      const fh = handleFor(node, fi);
      if (fh === null) return r.err(req, ENOENT);
      r.run(req, 'getattr', node.path, () => fs.getattr(node.path, fh, r.caller(req)), (attr: Attr) => r.replyAttr(req, node, attr));
    }),

    setattr: r.guard('setattr', (req, id: number, statPointer: Pointer, toSet: number, fi: Pointer | null) => {
      const node = r.node(req, id);
      if (!node) return;
      const fh = handleFor(node, fi);
      if (fh === null) return r.err(req, ENOENT);
      lib.memcpy_in(setattrScratch.buffer, statPointer, STAT_SIZE);
      const v = readSetattr(setattrScratch.u32);
      const caller = r.caller(req);
      const path = node.path;
      const steps: (() => MaybePromise<void>)[] = [];
      const missing: string[] = [];
      const step = (method: 'chmod' | 'chown' | 'truncate' | 'utimens', run: () => MaybePromise<void>): void => {
        if (typeof fs[method] === 'function') steps.push(run);
        else missing.push(method);
      };
      // libfuse's order: mode, owner, size, times.
      if (toSet & SET_ATTR.mode) step('chmod', () => fs.chmod!(path, v.mode & 0o7777, fh, caller));
      if (toSet & (SET_ATTR.uid | SET_ATTR.gid)) {
        const uid = toSet & SET_ATTR.uid ? v.uid : -1;
        const gid = toSet & SET_ATTR.gid ? v.gid : -1;
        step('chown', () => fs.chown!(path, uid, gid, fh, caller));
      }
      if (toSet & SET_ATTR.size) step('truncate', () => fs.truncate!(path, v.size, fh, caller));
      if (toSet & (SET_ATTR.atime | SET_ATTR.mtime | SET_ATTR.atimeNow | SET_ATTR.mtimeNow)) {
        const time = (now: number, set: number, value: Timespec): TimeUpdate => (toSet & now ? 'now' : toSet & set ? value : 'omit');
        const atime = time(SET_ATTR.atimeNow, SET_ATTR.atime, v.atime);
        const mtime = time(SET_ATTR.mtimeNow, SET_ATTR.mtime, v.mtime);
        step('utimens', () => fs.utimens!(path, atime, mtime, fh, caller));
      }
      if (missing.length > 0) return r.err(req, ENOSYS);
      r.sequence(req, 'setattr', path, steps, () => {
        r.run(req, 'getattr', path, () => fs.getattr(path, fh, caller), (attr: Attr) => {
          r.changedThrough(node);
          r.replyAttr(req, node, attr);
        });
      });
    }),

    readlink: fs.readlink && r.guard('readlink', (req, id: number) => {
      const node = r.node(req, id);
      if (!node) return;
      r.run(req, 'readlink', node.path, () => fs.readlink!(node.path, r.caller(req)), (target: string) => r.replyReadlink(req, target));
    }),

    access: fs.access && r.guard('access', (req, id: number, mask: number) => {
      const node = r.node(req, id);
      if (!node) return;
      r.run(req, 'access', node.path, () => fs.access!(node.path, mask, r.caller(req)), () => r.err(req, 0));
    }),

    statfs: fs.statfs && r.guard('statfs', (req, id: number) => {
      const node = r.node(req, id);
      if (!node) return;
      const path = node.orphan ? '/' : node.path;
      r.run(req, 'statfs', path, () => fs.statfs!(path, r.caller(req)), (s) => r.replyStatfs(req, s));
    }),
  };
}
