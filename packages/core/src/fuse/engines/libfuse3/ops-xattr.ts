import { koffi } from '../../../libc/library.js';
import type { Pointer } from './bindings.js';
import { ENOENT, ERANGE, type Requests } from './requests.js';
import type { OpHandlers } from './ops.js';

/** SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR. A request of size 0 asks only for the size. */
export function xattrOps(r: Requests): OpHandlers {
  const { fs } = r;

  /** Answers a value (or name list) request: its size, ERANGE, or the bytes. */
  const sized = (req: Pointer, value: Buffer, size: number): void => {
    if (size === 0) r.replyXattrSize(req, value.length);
    else if (value.length > size) r.err(req, ERANGE);
    else r.replyBuffer(req, value);
  };

  const pathOf = (req: Pointer, id: number): string | undefined => {
    const node = r.node(req, id);
    if (!node) return undefined;
    if (!node.orphan) return node.path;
    r.err(req, ENOENT);
    return undefined;
  };

  return {
    setxattr: fs.setxattr && r.guard('setxattr', (req, id: number, name: string, value: Pointer, size: number, flags: number) => {
      const path = pathOf(req, id);
      if (path === undefined) return;
      // A copy: the value lives in libfuse's receive buffer, which the next request reuses.
      const copy = Buffer.from(Buffer.from(koffi().view(value, size)));
      r.run(req, 'setxattr', path, () => fs.setxattr!(path, name, copy, flags, r.caller(req)), () => r.err(req, 0));
    }),

    getxattr: fs.getxattr && r.guard('getxattr', (req, id: number, name: string, size: number) => {
      const path = pathOf(req, id);
      if (path === undefined) return;
      r.run(req, 'getxattr', path, () => fs.getxattr!(path, name, r.caller(req)), (value: Buffer) => sized(req, value, size));
    }),

    listxattr: fs.listxattr && r.guard('listxattr', (req, id: number, size: number) => {
      const path = pathOf(req, id);
      if (path === undefined) return;
      r.run(req, 'listxattr', path, () => fs.listxattr!(path, r.caller(req)), (names: readonly string[]) => {
        sized(req, Buffer.from(names.map((n) => `${n}\0`).join('')), size);
      });
    }),

    removexattr: fs.removexattr && r.guard('removexattr', (req, id: number, name: string) => {
      const path = pathOf(req, id);
      if (path === undefined) return;
      r.run(req, 'removexattr', path, () => fs.removexattr!(path, name, r.caller(req)), () => r.err(req, 0));
    }),
  };
}
