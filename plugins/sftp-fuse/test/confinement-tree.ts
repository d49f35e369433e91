// The canary tree of the confinement suite (serve-confinement.test.ts): a served root with
// escaping symlinks inside it, and outside it canaries no request may read, change or reveal.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';

/** Owner of everything outside the root: no reply may ever show it. */
export const CANARY_UID = 42001;
export const CANARY_GID = 42002;
/** Owner of the outside file hard-linked into the root (inside by inode: served, see docs/security.md). */
const LINKED_UID = 42003;
const CANARY_ATIME = 1_111_111_111;
const CANARY_MTIME = 1_222_222_222;
/** The unprivileged user serve runs as in the suite's second pass. */
export const NOBODY = 65534;

// ---------------------------------------------------------------------------------------------
// The tree: base/outer/mid/root is served; everything else under base is outside.
//
//   base/                       canary-owned, 0711 (nobody may pass, not list)
//     outer/                    ditto
//       canary/                 0777: victim.txt 0666, secret.txt 0600, hidden-<t>, dir/…, link-in-canary
//       mid/                    ditto
//         canary-near/          0777: victim.txt 0666, hidden-<t>
//         linked/shared.txt     hard-linked into the root as /hard (served; not a canary)
//         root/                 the root, rebuilt before every sequence
//
// The root is three levels below base, no symlink text (the tree's or the client's) holds
// more than three '..', and absolute ones all lie under base: even a server that followed
// links on the host could not reach beyond base. That keeps this suite harmless to the
// machine when run against a broken server (as it was, to see it fail).
// ---------------------------------------------------------------------------------------------

export interface Layout {
  base: string;
  outer: string;
  mid: string;
  root: string;
  linked: string;
  /** Strings that only the outside tree holds (file contents, names no link mentions). */
  secrets: string[];
  /** Absolute paths of [directory, symlink out] pairs the swap worker exchanges. */
  swaps: Array<[string, string]>;
  /** Owner of the root's contents (the serving user). */
  owner: number;
  /** Inode numbers of everything outside the root (but the hard-linked file): no STAT RECORD may carry one. */
  inodes: Set<bigint>;
}

export function layout(base: string, owner: number): Layout {
  const outer = join(base, 'outer');
  const mid = join(outer, 'mid');
  const root = join(mid, 'root');
  const token = (): string => randomBytes(12).toString('hex');
  return {
    base, outer, mid, root, linked: join(mid, 'linked'), owner, inodes: new Set(),
    secrets: [`CANARYDATA${token()}`, `CANARYDATA${token()}`, `CANARYDATA${token()}`, `CANARYDATA${token()}`, `hidden${token()}`, `hidden${token()}`, `hidden${token()}`],
    swaps: [[join(root, 'swap'), join(root, 'swap-out')], [join(root, 'deep', 'swap2'), join(root, 'deep', 'swap2-out')], [join(root, 'swapf'), join(root, 'swapf-out')]],
  };
}

function canaryFile(path: string, content: string, mode: number): void {
  fs.writeFileSync(path, content);
  fs.chmodSync(path, mode);
}

/** (Re)builds everything outside the root: the canaries, the hard-linked file, the owners and times. */
export function buildOutside(l: Layout): void {
  const [c0, c1, c2, c3, h0, h1, h2] = l.secrets as [string, string, string, string, string, string, string];
  const canary = join(l.outer, 'canary');
  const near = join(l.mid, 'canary-near');
  for (const dir of [canary, near, l.linked]) fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(l.root, { recursive: true });
  fs.mkdirSync(join(canary, 'dir', h1), { recursive: true });
  fs.mkdirSync(near);
  fs.mkdirSync(l.linked);
  canaryFile(join(canary, 'victim.txt'), `${c0}\n`, 0o666);
  canaryFile(join(canary, 'secret.txt'), `${c1}\n`, 0o600);
  canaryFile(join(canary, h0), `${c2}\n`, 0o644);
  canaryFile(join(canary, 'dir', 'victim.txt'), `${c3}\n`, 0o666);
  canaryFile(join(canary, 'dir', h1, 'file'), `${c0}\n`, 0o666);
  canaryFile(join(near, 'victim.txt'), `${c2}\n`, 0o666);
  canaryFile(join(near, h2), `${c3}\n`, 0o666);
  fs.symlinkSync('victim.txt', join(canary, 'link-in-canary'));
  fs.writeFileSync(join(l.linked, 'shared.txt'), 'shared by inode\n');
  fs.chmodSync(join(canary, 'dir'), 0o777);
  fs.chmodSync(join(canary, 'dir', h1), 0o777);
  fs.chmodSync(canary, 0o777);
  fs.chmodSync(near, 0o777);
  // Owners and times, deepest first (a change inside a directory moves its times).
  const walk = (path: string): void => {
    const st = fs.lstatSync(path);
    if (st.isDirectory()) for (const name of fs.readdirSync(path)) walk(join(path, name));
    fs.lchownSync(path, CANARY_UID, CANARY_GID);
    fs.lutimesSync(path, CANARY_ATIME, CANARY_MTIME);
  };
  walk(canary);
  walk(near);
  fs.lchownSync(join(l.linked, 'shared.txt'), LINKED_UID, LINKED_UID);
  fs.chmodSync(join(l.linked, 'shared.txt'), 0o666);
  for (const dir of [l.linked, l.mid, l.outer, l.base]) {
    fs.chmodSync(dir, 0o711);
    fs.chownSync(dir, CANARY_UID, CANARY_GID);
    fs.utimesSync(dir, CANARY_ATIME, CANARY_MTIME);
  }
  l.inodes.clear();
  const shared = fs.statSync(join(l.linked, 'shared.txt'), { bigint: true }).ino;
  const note = (path: string): void => {
    if (path === l.root) return;
    const st = fs.lstatSync(path, { bigint: true });
    if (st.ino !== shared) l.inodes.add(st.ino);
    if (st.isDirectory()) for (const name of fs.readdirSync(path)) note(join(path, name));
  };
  note(l.base);
}

/** Empties the root (its fd stays the server's) and fills it with inside files and escaping links. */
export function resetRoot(l: Layout): void {
  const { root, outer } = l;
  for (const name of fs.readdirSync(root)) fs.rmSync(join(root, name), { recursive: true, force: true });
  fs.chmodSync(root, 0o755);
  fs.writeFileSync(join(root, 'inside.txt'), 'inside data\n');
  fs.mkdirSync(join(root, 'sub'));
  fs.writeFileSync(join(root, 'sub', 'file'), 'sub file\n');
  fs.mkdirSync(join(root, 'empty'));
  fs.mkdirSync(join(root, 'deep'));
  // A decoy at the absolute outside path, inside the root: what absolute links really reach.
  fs.mkdirSync(join(root, outer, 'canary', 'dir'), { recursive: true });
  fs.writeFileSync(join(root, outer, 'canary', 'victim.txt'), 'decoy\n');
  const links: Array<[string, string]> = [
    ['abs-file', `${outer}/canary/victim.txt`],
    ['abs-dir', `${outer}/canary`],
    ['abs-secret', `${outer}/canary/secret.txt`],
    ['rel-file', '../canary-near/victim.txt'],
    ['rel-dir', '../../canary'],
    ['deep/rel-up', '../../../canary/secret.txt'],
    ['deep/rel-dir', '../../../canary'],
    ['deep/near', '../../canary-near/victim.txt'],
    ['dangling-abs', `${outer}/canary/created-abs`],
    ['dangling-rel', '../canary-near/created-rel'],
    ['chain1', 'chain2'],
    ['chain2', 'deep/chain3'],
    ['deep/chain3', '../../../canary/victim.txt'],
    ['chain-dir', 'abs-dir'],
    ['loop1', 'loop2'],
    ['loop2', 'loop1'],
    ['inside-link', 'inside.txt'],
    ['swap-out', `${outer}/canary`],
    ['deep/swap2-out', '../../../canary/dir'],
    ['swapf-out', `${outer}/canary/victim.txt`],
  ];
  for (const [name, target] of links) fs.symlinkSync(target, join(root, name));
  fs.mkdirSync(join(root, 'swap', 'dir'), { recursive: true });
  fs.writeFileSync(join(root, 'swap', 'victim.txt'), 'swap decoy\n');
  fs.mkdirSync(join(root, 'deep', 'swap2'));
  fs.writeFileSync(join(root, 'deep', 'swap2', 'victim.txt'), 'swap2 decoy\n');
  fs.writeFileSync(join(root, 'swapf'), 'swapped file decoy\n');
  fs.linkSync(join(l.linked, 'shared.txt'), join(root, 'hard'));
  if (l.owner !== 0) {
    const own = (path: string): void => {
      const st = fs.lstatSync(path);
      if (st.isDirectory()) for (const name of fs.readdirSync(path)) own(join(path, name));
      if (st.ino !== fs.statSync(join(l.linked, 'shared.txt')).ino) fs.lchownSync(path, l.owner, l.owner);
    };
    own(root);
  }
}
