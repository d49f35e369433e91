// The agent's unprivileged reader: every read, listing, stat and readlink a remote client asks
// for is carried out here, by a process that runs as the reading user (default `nobody`) and
// holds nothing of the agent's: the kernel then answers each request exactly as it answers
// that user (zeroed addresses in another user's stat, /proc/iomem, EACCES for another user's
// environ, its own keys only in /proc/keys …). Started by reader.ts as
//
//   node reader-child.js ROOT UID GID PARENT_PID none|kept [LIBKMX_DIRLIST]
//
// with uid and gid already switched by the spawn (setgroups(0), setgid, setuid: every
// capability goes with the switch away from root; `kept`: an agent that is not root, whose
// groups cannot be dropped), an empty environment and the pipes as its
// only fds (the agent marks every other fd close-on-exec first). Before answering anything it
// checks its credentials and capabilities, sets no_new_privs, makes itself non-dumpable (so
// that other processes of the same user can neither ptrace it nor read its /proc files) and
// asks to be killed with its parent. It imports nothing of kmx but the message codec.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { FrameReader, RECORD_HEADER, frame, putRecord, type PackedList, type ReaderAnswer, type ReaderReady, type ReaderRequest, type WireAttr } from './reader-protocol.js';
import type { ReadReply, StatReply } from './generated/procsys.js';
import { readFdRange } from '../proc/read-range.js';

const [root = '/proc', uidText = '', gidText = '', parentText = '', groupsMode = 'none', dirlistLibrary = ''] = process.argv.slice(2);
const uid = Number(uidText);
const gid = Number(gidText);

/**
 * Names below a process directory that ptrace access guards. The kernel refuses them to other
 * users; to the reading user's own processes it would grant them, so the reader refuses them
 * there itself (a daemon running as `nobody` keeps its environment and memory).
 */
const OWN_GUARDED = new Set(['environ', 'mem', 'maps', 'smaps', 'smaps_rollup', 'numa_maps', 'pagemap', 'map_files', 'stack', 'syscall', 'wchan', 'auxv', 'personality', 'io', 'fd', 'fdinfo', 'ns', 'root', 'cwd', 'exe', 'timerslack_ns']);
const PROCESS_DIR = /^\d+$/;

function die(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(125);
}

/** Credentials and capabilities as the kernel holds them: every id the reading user's, no group, no capability. */
function checkIdentity(): void {
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0 || gid <= 0) die(`reader: bad identity ${uidText}:${gidText}`);
  const status = fs.readFileSync('/proc/self/status', 'latin1');
  const field = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '?';
  const ids = (name: string): string[] => field(name).split(/\s+/);
  if (!ids('Uid').every((id) => Number(id) === uid)) die(`reader: uids are ${field('Uid')}, not ${uid}`);
  if (!ids('Gid').every((id) => Number(id) === gid)) die(`reader: gids are ${field('Gid')}, not ${gid}`);
  const groups = field('Groups');
  if (groupsMode !== 'kept' && groups !== '' && groups !== String(gid)) die(`reader: supplementary groups ${groups} were kept`);
  for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) if (!/^0+$/.test(field(cap))) die(`reader: ${cap} is ${field(cap)}`);
}

/**
 * no_new_privs, not dumpable, killed with its parent, and no keyring of the agent's session:
 * through koffi as @kmx/core ships it.
 */
function harden(): void {
  const requireFromCore = createRequire(createRequire(import.meta.url).resolve('@kmx/core/package.json'));
  type Native = (...args: unknown[]) => number | bigint;
  const koffi = requireFromCore('koffi') as { load(name: string): { func(prototype: string): Native } };
  const lib = koffi.load('libc.so.6');
  const prctl = lib.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
  const syscall = lib.func('long syscall(long number, ...)');
  const PR_SET_PDEATHSIG = 1;
  const PR_SET_DUMPABLE = 4;
  const PR_SET_NO_NEW_PRIVS = 38;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) !== 0) die('reader: prctl(PR_SET_NO_NEW_PRIVS) failed');
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) !== 0) die('reader: prctl(PR_SET_DUMPABLE) failed');
  if (prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0) !== 0) die('reader: prctl(PR_SET_PDEATHSIG) failed');
  // The parent may have gone before the death signal was asked for.
  if (String(process.ppid) !== parentText) die('reader: the agent is gone');
  const status = fs.readFileSync('/proc/self/status', 'latin1');
  if (!/^NoNewPrivs:\s*1$/m.test(status)) die('reader: no_new_privs is not set');
  // A session keyring inherited from the agent (root's login session, say) would show its
  // keys in /proc/keys: a reader on its own default session keyring, or a fresh one, shows none.
  const SYS_keyctl = process.arch === 'arm64' ? 219 : 250;
  const KEYCTL_GET_KEYRING_ID = 0;
  const KEYCTL_JOIN_SESSION_KEYRING = 1;
  const KEY_SPEC_SESSION_KEYRING = -3;
  const KEY_SPEC_USER_SESSION_KEYRING = -5;
  const session = Number(syscall(SYS_keyctl, 'int', KEYCTL_GET_KEYRING_ID, 'int', KEY_SPEC_SESSION_KEYRING, 'int', 0));
  const userSession = Number(syscall(SYS_keyctl, 'int', KEYCTL_GET_KEYRING_ID, 'int', KEY_SPEC_USER_SESSION_KEYRING, 'int', 0));
  if (session >= 0 && session !== userSession && Number(syscall(SYS_keyctl, 'int', KEYCTL_JOIN_SESSION_KEYRING, 'void *', null)) < 0) die('reader: cannot leave the agent\'s session keyring');
  // kmx-dirlist, where it is built: a directory and its entries' attributes in one call.
  if (dirlistLibrary && fs.existsSync(dirlistLibrary)) {
    try {
      const listDir = koffi.load(dirlistLibrary).func('int64_t kmx_list_dir(const char *path, void *out, uint64_t cap)');
      nativeList = (path, out) => Number(listDir(path, out, out.length));
    } catch {
      // Node's fs does the same, slower.
    }
  }
}

/** kmx_list_dir: bytes of records written, -ERANGE when `out` is too small, or -errno. */
let nativeList: ((path: string, out: Buffer) => number) | undefined;
const ERANGE = osConstants.errno.ERANGE;
const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, number]) => [number, name]));
let listSlab = Buffer.allocUnsafe(1 << 16);

class Refused extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

const errorName = (err: unknown): string => {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO';
};

const real = (parts: readonly string[]): string => (parts.length === 0 ? root : `${root}/${parts.join('/')}`);

/** A path as the agent sent it: components inside /proc, no `.` or `..` (the agent checked it too). */
function split(path: string): string[] {
  if (path === '') return [];
  const parts = path.split('/');
  if (path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) throw new Refused('EINVAL');
  return parts;
}

/**
 * What the reader refuses before asking the kernel: its own process (self, thread-self, its
 * pid and threads: the kernel lets a process read all of itself), the guarded files of the
 * reading user's own processes, and any path that leads outside /proc once links are
 * followed (all of it for an operation that follows the last link, the directory otherwise).
 * Everything else is the kernel's decision, taken for the reading user.
 */
function admit(parts: readonly string[], followLast: boolean): void {
  const first = parts[0];
  // The entry itself (lstat, readlink of `self`) is what anyone sees in the top-level listing.
  if (first !== undefined && (parts.length >= 2 || followLast)) {
    if (first === 'self' || first === 'thread-self') throw new Refused('EACCES');
    if (PROCESS_DIR.test(first)) {
      if (fs.existsSync(`${root}/self/task/${first}`)) throw new Refused('EACCES');
      if (parts.some((p, i) => i > 0 && OWN_GUARDED.has(p)) && fs.statSync(real(parts.slice(0, 1))).uid === uid) throw new Refused('EACCES');
    }
  }
  const reached = followLast ? parts : parts.slice(0, -1);
  const target = fs.realpathSync.native(real(reached));
  if (target !== root && !target.startsWith(`${root}/`)) throw new Refused('EACCES');
}

function wireAttr(st: fs.BigIntStats): WireAttr {
  const sec = (ns: bigint): number => Number(ns / 1_000_000_000n);
  const nsec = (ns: bigint): number => Number(ns % 1_000_000_000n);
  return {
    mode: Number(st.mode), nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), ino: Number(st.ino),
    atimeSec: sec(st.atimeNs), atimeNsec: nsec(st.atimeNs), mtimeSec: sec(st.mtimeNs), mtimeNsec: nsec(st.mtimeNs), ctimeSec: sec(st.ctimeNs), ctimeNsec: nsec(st.ctimeNs),
  };
}

function stat(path: string, follow: boolean): StatReply {
  try {
    const parts = split(path);
    admit(parts, follow);
    const where = real(parts);
    return { error: '', attr: wireAttr(follow ? fs.statSync(where, { bigint: true }) : fs.lstatSync(where, { bigint: true })) };
  } catch (err) {
    return { error: errorName(err), attr: undefined };
  }
}

/** Entries in the kernel's order (pids ascending) as kmx-dirlist records, with attributes where the reader may have them. */
function list(path: string): PackedList {
  try {
    const parts = split(path);
    admit(parts, true);
    const dir = real(parts);
    if (nativeList) {
      for (;;) {
        const n = nativeList(dir, listSlab);
        if (n === -ERANGE) {
          listSlab = Buffer.allocUnsafe(listSlab.length * 4);
          continue;
        }
        if (n < 0) throw new Refused(errnoNames.get(-n) ?? 'EIO');
        return { error: '', records: Buffer.from(listSlab.subarray(0, n)) };
      }
    }
    const handle = fs.opendirSync(dir, { bufferSize: 256 });
    const names: string[] = [];
    try {
      for (let entry = handle.readSync(); entry; entry = handle.readSync()) names.push(entry.name);
    } finally {
      handle.closeSync();
    }
    let out = Buffer.allocUnsafe(names.reduce((sum, name) => sum + RECORD_HEADER + Buffer.byteLength(name) + 8, 0));
    let at = 0;
    for (const name of names) {
      let attr: WireAttr | undefined;
      try {
        const st = fs.lstatSync(`${dir}/${name}`, { bigint: true, throwIfNoEntry: false });
        if (!st) continue; // gone in between (a process exited)
        attr = wireAttr(st);
      } catch {
        // Listed but not to be looked at by this user: the name alone, as `ls` shows it.
        attr = undefined;
      }
      at = putRecord(out, at, name, attr);
    }
    out = out.subarray(0, at);
    return { error: '', records: out };
  } catch (err) {
    return { error: errorName(err), records: Buffer.alloc(0) };
  }
}

function readlink(path: string): { error: string; target: string } {
  try {
    const parts = split(path);
    admit(parts, false);
    return { error: '', target: fs.readlinkSync(real(parts)) };
  } catch (err) {
    return { error: errorName(err), target: '' };
  }
}

const EMPTY = Buffer.alloc(0);
const MAX_ANSWER = 60 * 1024 * 1024;

/** Up to `length` bytes from `offset` the way cat reads (until a read returns 0), and whether the file ended there. */
function read(path: string, offset: number, length: number): ReadReply {
  let fd = -1;
  try {
    const parts = split(path);
    admit(parts, true);
    fd = fs.openSync(real(parts), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    return { error: '', ...readFdRange(fd, offset, length) };
  } catch (err) {
    return { error: errorName(err), data: EMPTY, eof: true };
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

function answer(request: ReaderRequest): ReaderAnswer {
  switch (request.op) {
    case 'stat': return { id: request.id, stat: stat(request.path, request.follow) };
    case 'list': return { id: request.id, lists: request.paths.map(list) };
    case 'readlink': return { id: request.id, link: readlink(request.path) };
    case 'read': {
      // One answer stays below what the agent may send (64 MiB a message): files past 60 MiB are not read.
      let budget = MAX_ANSWER;
      return {
        id: request.id,
        files: request.paths.map((p) => {
          if (budget <= 0) return { error: 'ENOBUFS', data: EMPTY, eof: true };
          const file = read(p, request.offset, Math.min(request.length, budget));
          budget -= file.data.length;
          return file;
        }),
      };
    }
    default: return { id: (request as { id: number }).id, failed: 'EINVAL' };
  }
}

/** Writes all of `data` to fd 1 (a blocking socket: a large answer may go in parts). */
function writeAll(data: Buffer): void {
  for (let done = 0; done < data.length;) done += fs.writeSync(1, data, done, data.length - done);
}

/**
 * Reads requests and answers them, one process-wide loop of blocking reads and writes on its
 * pipes: no event loop turn between a request and its answer (libuv hands a child its stdio
 * blocking). Ends when the agent closes the pipe.
 */
function serve(): void {
  const answers: Buffer[] = [];
  const frames = new FrameReader((message) => {
    const request = message as ReaderRequest;
    let reply: ReaderAnswer;
    try {
      reply = answer(request);
    } catch (err) {
      reply = { id: request.id, failed: errorName(err) };
    }
    answers.push(frame(reply));
  });
  const input = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, input, 0, input.length, null);
    } catch (err) {
      if (errorName(err) === 'EINTR') continue;
      if (errorName(err) === 'EAGAIN') {
        serveNonBlocking(frames, answers);
        return;
      }
      return die(`reader: reading requests: ${errorName(err)}`);
    }
    if (n === 0) process.exit(0);
    try {
      frames.push(Buffer.from(input.subarray(0, n)));
    } catch (err) {
      die(`reader: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (answers.length > 0) writeAll(answers.length === 1 ? answers[0]! : Buffer.concat(answers));
    answers.length = 0;
  }
}

/** The same through the event loop, for a pipe that came non-blocking. */
function serveNonBlocking(frames: FrameReader, answers: Buffer[]): void {
  process.stdin.on('data', (chunk: Buffer) => {
    try {
      frames.push(chunk);
    } catch (err) {
      die(`reader: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (answers.length > 0) process.stdout.write(answers.length === 1 ? answers[0]! : Buffer.concat(answers));
    answers.length = 0;
  });
  // The agent closed the pipe (it stopped, or died): nothing more to do.
  process.stdin.on('end', () => process.exit(0));
}

checkIdentity();
harden();
writeAll(frame({ ready: true, uid: process.getuid!(), gid: process.getgid!(), pid: process.pid } satisfies ReaderReady));
serve();
