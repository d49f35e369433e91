import type { DirEntry, OpenReply } from '../../types.js';
import type { Pointer } from './bindings.js';
import { DirentWriter, UNKNOWN_INO, direntType } from './dirents.js';
import type { Node } from './nodes.js';
import { EBADF, ENOENT, checkHandle, type Requests } from './requests.js';
import type { OpHandlers } from './ops.js';

/** An open directory: the filesystem's handle and the listing its pages are served from. */
interface OpenDirectory {
  node: Node;
  fh: number | undefined;
  entries: readonly DirEntry[] | undefined;
}

/**
 * OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR. The listing is read once per pass
 * (at offset 0) and kept with the open directory for the following pages; '.' and '..'
 * come first. READDIRPLUS hands out a node (one lookup) for every entry with attributes, so
 * that `ls -l` or `find` needs no LOOKUP per entry while the timeouts last.
 */
export function directoryOps(r: Requests): OpHandlers {
  const { fs, nodes } = r;
  const open = new Map<number, OpenDirectory>();
  let nextHandle = 1;
  const writer = new DirentWriter(r.timeouts);

  /** The open directory of a request (its handle is in fi), or undefined once answered EBADF. */
  const directory = (req: Pointer, fi: Pointer): OpenDirectory | undefined => {
    r.readFileInfo(fi);
    const dir = open.get(r.fileHandle());
    if (!dir) r.err(req, EBADF);
    return dir;
  };

  /** st_ino of '.' and '..', when known. */
  const dotIno = (node: Node | undefined): number => (node ? (r.useIno ? node.ino ?? UNKNOWN_INO : node.id) : UNKNOWN_INO);

  const fill = (dir: OpenDirectory, size: number, offset: number, plus: boolean): Buffer => {
    const entries = dir.entries ?? [];
    writer.reset(size);
    for (let index = offset; index < entries.length + 2; index++) {
      const cookie = index + 1;
      if (index < 2) {
        const name = index === 0 ? '.' : '..';
        const ino = dotIno(index === 0 ? dir.node : dir.node.parent);
        const added = plus ? writer.addPlus(name, ino, 4, cookie, undefined) : writer.add(name, ino, 4, cookie);
        if (!added) break;
        continue;
      }
      const entry = entries[index - 2]!;
      const type = direntType(entry.attr?.mode);
      if (!plus || !entry.attr || dir.node.orphan) {
        const known = nodes.child(dir.node, entry.name);
        const ino = entry.attr && r.useIno && entry.attr.ino !== undefined ? entry.attr.ino : known?.id ?? UNKNOWN_INO;
        const added = plus ? writer.addPlus(entry.name, ino, type, cookie, undefined) : writer.add(entry.name, ino, type, cookie);
        if (!added) break;
        continue;
      }
      // Count the lookup only for an entry that fits: the kernel forgets only what it received.
      if (!writer.fitsPlus(entry.name)) break;
      const node = nodes.remember(dir.node, entry.name, entry.attr);
      const ino = r.stIno(node, entry.attr);
      writer.addPlus(entry.name, ino, type, cookie, { nodeid: node.id, ino, attr: entry.attr });
    }
    return writer.bytes();
  };

  const readdir = (plus: boolean) => (req: Pointer, _id: number, size: number, offset: number, fi: Pointer): void => {
    const dir = directory(req, fi);
    if (!dir) return;
    const answer = (): void => r.replyBuffer(req, fill(dir, size, offset, plus));
    if (offset > 0 && dir.entries) return answer();
    r.run(req, plus ? 'readdirplus' : 'readdir', dir.node.path, () => fs.readdir!(dir.node.path, dir.fh, r.caller(req)), (entries: readonly DirEntry[]) => {
      if (!Array.isArray(entries)) throw new TypeError('readdir must return an array');
      dir.entries = entries.filter((e) => e.name !== '.' && e.name !== '..');
      answer();
    });
  };

  return {
    opendir: r.guard('opendir', (req, id: number, fi: Pointer) => {
      const node = r.node(req, id);
      if (!node) return;
      if (node.orphan) return r.err(req, ENOENT);
      r.readFileInfo(fi);
      const flags = r.openFlags();
      const remember = (fh: number | undefined): void => {
        const handle = nextHandle++;
        open.set(handle, { node, fh, entries: undefined });
        r.replyOpen(req, handle, 0);
      };
      if (!fs.opendir) return remember(undefined);
      r.run(req, 'opendir', node.path, () => fs.opendir!(node.path, flags, r.caller(req)), (reply: OpenReply) => remember(checkHandle(reply.fh, 'opendir')));
    }),

    readdir: fs.readdir && r.guard('readdir', readdir(false)),
    // Entries that expire at once (both timeouts 0) would only cost the kernel work: plain READDIR then.
    readdirplus: fs.readdir && (r.timeouts.entry > 0 || r.timeouts.attr > 0) ? r.guard('readdirplus', readdir(true)) : undefined,

    releasedir: r.guard('releasedir', (req, _id: number, fi: Pointer) => {
      const dir = directory(req, fi);
      if (!dir) return;
      open.delete(r.fileHandle());
      if (!fs.releasedir) return r.err(req, 0);
      r.run(req, 'releasedir', dir.node.path, () => fs.releasedir!(dir.node.path, dir.fh, r.caller(req)), () => r.err(req, 0));
    }),

    fsyncdir: fs.fsyncdir && r.guard('fsyncdir', (req, _id: number, datasync: number, fi: Pointer) => {
      const dir = directory(req, fi);
      if (!dir) return;
      r.run(req, 'fsyncdir', dir.node.path, () => fs.fsyncdir!(dir.node.path, dir.fh, datasync !== 0, r.caller(req)), () => r.err(req, 0));
    }),
  };
}
