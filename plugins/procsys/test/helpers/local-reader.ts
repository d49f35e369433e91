// The local side of the agent comparison (unprivileged.alone.test.ts): /proc read directly by
// an ordinary user, as `cat`, `ls -l` and `readlink` would. Run as that user by
//
//   setpriv --reuid=UID --regid=GID --clear-groups -- node local-reader.js
//
// it reads JSON lines from stdin, each an array of operations, and answers each line with
// one JSON line of results, until stdin ends. It imports nothing of kmx.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export type LocalOp = { op: 'read' | 'list' | 'lstat' | 'readlink'; path: string };

export interface LocalAttr {
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

export type LocalResult =
  | { error: string }
  | { data: string; eof: boolean } // base64
  | { entries: Array<{ name: string; attr: LocalAttr | null }> }
  | { attr: LocalAttr }
  | { target: string };

/** Like the agent: at most this much of a file (kallsyms is larger). */
export const READ_LIMIT = 4 * 1024 * 1024;

const code = (err: unknown): string => {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' ? c : 'EIO';
};
const attrOf = (st: fs.Stats): LocalAttr => ({ mode: st.mode, uid: st.uid, gid: st.gid, size: st.size });
const real = (path: string): string => (path === '' ? '/proc' : `/proc/${path}`);

function read(path: string): LocalResult {
  let fd: number;
  try {
    fd = fs.openSync(real(path), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    return { error: code(err) };
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    while (total <= READ_LIMIT) {
      const chunk = Buffer.allocUnsafe(Math.min(65536, READ_LIMIT + 1 - total));
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    const data = Buffer.concat(chunks, total);
    return { data: data.subarray(0, READ_LIMIT).toString('base64'), eof: total <= READ_LIMIT };
  } catch (err) {
    return { error: code(err) };
  } finally {
    fs.closeSync(fd);
  }
}

function list(path: string): LocalResult {
  const names: string[] = [];
  try {
    const dir = fs.opendirSync(real(path), { bufferSize: 256 });
    try {
      for (let entry = dir.readSync(); entry; entry = dir.readSync()) names.push(entry.name);
    } finally {
      dir.closeSync();
    }
  } catch (err) {
    return { error: code(err) };
  }
  const entries: Array<{ name: string; attr: LocalAttr | null }> = [];
  for (const name of names) {
    try {
      entries.push({ name, attr: attrOf(fs.lstatSync(`${real(path)}/${name}`)) });
    } catch (err) {
      if (code(err) !== 'ENOENT') entries.push({ name, attr: null });
    }
  }
  return { entries };
}

export function carryOut(op: LocalOp): LocalResult {
  try {
    switch (op.op) {
      case 'read': return read(op.path);
      case 'list': return list(op.path);
      case 'lstat': return { attr: attrOf(fs.lstatSync(real(op.path))) };
      case 'readlink': return { target: fs.readlinkSync(real(op.path)) };
    }
  } catch (err) {
    return { error: code(err) };
  }
}

/** As the agent's reader does: a session keyring inherited from root is left for a fresh one. */
function ownSessionKeyring(): void {
  const requireFromCore = createRequire(createRequire(import.meta.url).resolve('@kmx/core/package.json'));
  const koffi = requireFromCore('koffi') as { load(name: string): { func(prototype: string): (...args: unknown[]) => number | bigint } };
  const syscall = koffi.load('libc.so.6').func('long syscall(long number, ...)');
  const SYS_keyctl = process.arch === 'arm64' ? 219 : 250;
  const session = Number(syscall(SYS_keyctl, 'int', 0, 'int', -3, 'int', 0));
  const userSession = Number(syscall(SYS_keyctl, 'int', 0, 'int', -5, 'int', 0));
  if (session >= 0 && session !== userSession) syscall(SYS_keyctl, 'int', 1, 'void *', null);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  ownSessionKeyring();
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text: string) => {
    pending += text;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const ops = JSON.parse(line) as LocalOp[];
      process.stdout.write(`${JSON.stringify(ops.map(carryOut))}\n`);
    }
  });
}
