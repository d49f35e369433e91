import type { Attr, Caller, MaybePromise } from '../../types.js';
import type { Pointer } from './bindings.js';
import { childPath, type Node } from './nodes.js';
import { ENOENT, type Requests } from './requests.js';
import type { OpHandlers } from './ops.js';

/** MKNOD, MKDIR, SYMLINK, LINK, UNLINK, RMDIR, RENAME: the ops that change names in a directory. */
export function nameOps(r: Requests): OpHandlers {
  const { fs, nodes } = r;

  /** The parent of a new or removed name, or undefined once answered (unknown or orphaned parent). */
  const directory = (req: Pointer, id: number): Node | undefined => {
    const parent = r.node(req, id);
    if (parent?.orphan) {
      r.err(req, ENOENT);
      return undefined;
    }
    return parent;
  };

  /** Makes parent/name with `make`, then answers with its entry (stat'ed, counted as a lookup). */
  const makeEntry = (req: Pointer, op: string, parent: Node, name: string, make: (path: string, caller: Caller) => MaybePromise<void>): void => {
    const path = childPath(parent, name);
    const caller = r.caller(req);
    r.run(req, op, path, () => make(path, caller), () => {
      r.run(req, op, path, () => fs.getattr(path, undefined, caller), (attr: Attr) => {
        const node = nodes.remember(parent, name, attr);
        r.changedThrough(node); // a new hard link: the other names' link count
        r.replyEntry(req, node, attr);
      });
    });
  };

  return {
    mknod: fs.mknod && r.guard('mknod', (req, parentId: number, name: string, mode: number, rdev: number) => {
      const parent = directory(req, parentId);
      if (parent) makeEntry(req, 'mknod', parent, name, (path, caller) => fs.mknod!(path, mode, rdev, caller));
    }),

    mkdir: fs.mkdir && r.guard('mkdir', (req, parentId: number, name: string, mode: number) => {
      const parent = directory(req, parentId);
      if (parent) makeEntry(req, 'mkdir', parent, name, (path, caller) => fs.mkdir!(path, mode, caller));
    }),

    symlink: fs.symlink && r.guard('symlink', (req, target: string, parentId: number, name: string) => {
      const parent = directory(req, parentId);
      if (parent) makeEntry(req, 'symlink', parent, name, (path, caller) => fs.symlink!(target, path, caller));
    }),

    link: fs.link && r.guard('link', (req, id: number, parentId: number, name: string) => {
      const existing = r.node(req, id);
      if (!existing) return;
      if (existing.orphan) return r.err(req, ENOENT);
      const parent = directory(req, parentId);
      if (parent) makeEntry(req, 'link', parent, name, (path, caller) => fs.link!(existing.path, path, caller));
    }),

    unlink: fs.unlink && r.guard('unlink', (req, parentId: number, name: string) => {
      const parent = directory(req, parentId);
      if (!parent) return;
      const path = childPath(parent, name);
      r.run(req, 'unlink', path, () => fs.unlink!(path, r.caller(req)), () => {
        const gone = nodes.child(parent, name);
        nodes.removed(parent, name);
        r.changedThrough(gone);
        r.err(req, 0);
      });
    }),

    rmdir: fs.rmdir && r.guard('rmdir', (req, parentId: number, name: string) => {
      const parent = directory(req, parentId);
      if (!parent) return;
      const path = childPath(parent, name);
      r.run(req, 'rmdir', path, () => fs.rmdir!(path, r.caller(req)), () => {
        nodes.removed(parent, name);
        r.err(req, 0);
      });
    }),

    rename: fs.rename && r.guard('rename', (req, parentId: number, name: string, newParentId: number, newName: string, flags: number) => {
      const parent = directory(req, parentId);
      if (!parent) return;
      const newParent = directory(req, newParentId);
      if (!newParent) return;
      const from = childPath(parent, name);
      const to = childPath(newParent, newName);
      r.run(req, 'rename', from, () => fs.rename!(from, to, flags, r.caller(req)), () => {
        const replaced = nodes.child(newParent, newName);
        nodes.renamed(parent, name, newParent, newName, flags);
        r.changedThrough(replaced);
        r.err(req, 0);
      });
    }),
  };
}
