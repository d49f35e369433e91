import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { withTestUsers, type TestUser } from '@kmx/core/testing';
import { startAgent, type RunningAgent } from '../src/lib/rpc/agent.js';
import { connectAgent, unary, type ProcHostClient } from '../src/lib/rpc/client.js';
import { resolveReadAs } from '../src/lib/rpc/reader.js';
import { readManyFiles } from '../src/lib/rpc/wire.js';
import { READ_LIMIT, type LocalAttr, type LocalOp, type LocalResult } from './helpers/local-reader.js';

// What a peer receives through the agent, compared with what an unprivileged user of this host
// reads directly (setpriv --reuid), file by file: contents, listings, link targets and errors,
// over all of /proc/sys, /proc's top-level files and the process directories of two processes
// of root and two of another user. Machine-wide counters move between reads: each file is read
// directly before and after the agent's read, and the agent's answer must match one of them
// or lie between them, number by number; a file that still differs is read again, a few times.

const HELPER = fileURLToPath(new URL('./helpers/local-reader.js', import.meta.url));
const S_IFMT = 0o170000;
const isDir = (mode: number): boolean => (mode & S_IFMT) === 0o040000;
const isFile = (mode: number): boolean => (mode & S_IFMT) === 0o100000;
const isLink = (mode: number): boolean => (mode & S_IFMT) === 0o120000;

/** One result, the same shape on both sides. */
type Seen = { error: string } | { data: Buffer; eof: boolean } | { entries: Array<{ name: string; attr: LocalAttr | null }> } | { attr: LocalAttr } | { target: string };

/** The ordinary user: a long-lived process (its keyring counts stay put between the two reads). */
class LocalReader {
  private readonly child: ChildProcess;
  private buffered = '';
  private readonly waiting: Array<(line: string) => void> = [];

  constructor(user: TestUser) {
    this.child = spawn('/usr/bin/setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', process.execPath, HELPER], { stdio: ['pipe', 'pipe', 'inherit'], cwd: '/' });
    this.child.stdin!.on('error', () => undefined);
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (text: string) => {
      this.buffered += text;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
  }

  async run(ops: readonly LocalOp[]): Promise<Seen[]> {
    const line = await new Promise<string>((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin!.write(`${JSON.stringify(ops)}\n`);
    });
    return (JSON.parse(line) as LocalResult[]).map((r) => ('data' in r ? { data: Buffer.from(r.data, 'base64'), eof: r.eof } : r));
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** The same operations through the agent, as a peer makes them. */
async function throughAgent(client: ProcHostClient, ops: readonly LocalOp[]): Promise<Seen[]> {
  const deadline = (): number => Date.now() + 30_000;
  const attr = (a: { mode: number; uid: number; gid: number; size: number } | undefined): LocalAttr | null => (a ? { mode: a.mode, uid: a.uid, gid: a.gid, size: a.size } : null);
  const one = async (op: LocalOp): Promise<Seen> => {
    switch (op.op) {
      case 'read': {
        const r = await unary(client.read.bind(client), { path: op.path, offset: 0, length: READ_LIMIT }, deadline());
        return r.error ? { error: r.error } : { data: Buffer.from(r.data), eof: r.eof };
      }
      case 'list': {
        const r = await unary(client.list.bind(client), { path: op.path, follow: false }, deadline());
        return r.error ? { error: r.error } : { entries: r.entries.map((e) => ({ name: e.name, attr: attr(e.attr) })) };
      }
      case 'lstat': {
        const r = await unary(client.stat.bind(client), { path: op.path, follow: false }, deadline());
        return r.error ? { error: r.error } : { attr: attr(r.attr)! };
      }
      case 'readlink': {
        const r = await unary(client.readLink.bind(client), { path: op.path, follow: false }, deadline());
        return r.error ? { error: r.error } : { target: r.target };
      }
    }
  };
  const results: Seen[] = new Array(ops.length);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < ops.length) {
      const i = next++;
      results[i] = await one(ops[i]!);
    }
  }));
  return results;
}

/**
 * Text that may differ only where numbers moved: every token as before or after, or a number
 * between them (decimal, or hexadecimal as in the net/ tables' timers and queues).
 */
function between(a: string, p: string, b: string): boolean {
  if (p === a || p === b) return true;
  const tokens = (pattern: RegExp, radix: number): boolean => {
    const [ta, tp, tb] = [a.split(pattern), p.split(pattern), b.split(pattern)];
    if (ta.length !== tp.length || tb.length !== tp.length) return false;
    for (let i = 0; i < tp.length; i++) {
      if (tp[i] === ta[i] || tp[i] === tb[i]) continue;
      if (i % 2 === 0) return false;
      const [x, y, z] = radix === 10 ? [Number(ta[i]), Number(tp[i]), Number(tb[i])] : [parseInt(ta[i]!, 16), parseInt(tp[i]!, 16), parseInt(tb[i]!, 16)];
      if (!(y >= Math.min(x, z) && y <= Math.max(x, z))) return false;
    }
    return true;
  };
  return tokens(/(\d+(?:\.\d+)?)/, 10) || tokens(/([0-9A-Fa-f]+)/, 16);
}

/** The first line where the agent's text differs from the direct one. */
function firstDifference(a: string, p: string): string {
  const [la, lp] = [a.split('\n'), p.split('\n')];
  const i = lp.findIndex((line, k) => line !== la[k]);
  return `line ${i + 1}: direct ${JSON.stringify(la[i]?.slice(0, 200))}, agent ${JSON.stringify(lp[i]?.slice(0, 200))}`;
}

/** The agent's port, as net/tcp writes it (hex): its own connection is busy while it answers. */
let agentPort = '';

/**
 * Files whose text differs by design between two readers: the keyring serials each reader's own
 * session shows, a fresh uuid per read, sched's clock-delta (measured per read), and the agent's
 * own connection in net/tcp (its socket holds one more reference while it answers).
 */
function normalized(path: string, text: string): string {
  if (path === 'keys') return text.replace(/^[0-9a-f]{8} /gm, 'SERIAL ');
  if (path === 'sys/kernel/random/uuid') return text.replace(/[0-9a-f]/g, 'x');
  // The time between two clock reads, measured anew on every read.
  if (path.endsWith('/sched')) return text.replace(/^(clock-delta\s*:\s*)\d+/m, '$1N');
  if (/(^|\/)net\/tcp6?$/.test(path) && agentPort) return text.split('\n').filter((line) => !line.includes(`:${agentPort} `)).join('\n');
  return text;
}

const sameAttr = (a: LocalAttr | null, p: LocalAttr | null): boolean =>
  a === p || (a !== null && p !== null && a.mode === p.mode && a.uid === p.uid && a.gid === p.gid && (!isFile(a.mode) || a.size === p.size));

/** Why the agent's answer P is neither the direct answer before (A) nor after (B), or undefined when it is one of them. */
function difference(op: LocalOp, a: Seen, p: Seen, b: Seen): string | undefined {
  const errors = ['error' in a ? a.error : '', 'error' in p ? p.error : '', 'error' in b ? b.error : ''];
  if (errors[1] !== errors[0] && errors[1] !== errors[2]) return `error: direct ${errors[0] || 'none'}/${errors[2] || 'none'}, agent ${errors[1] || 'none'}`;
  if (errors[1]) return undefined;
  if ('data' in p) {
    const [da, db] = ['data' in a ? a : undefined, 'data' in b ? b : undefined];
    if (!da || !db) return 'agent read data where the user got none';
    if (p.eof !== da.eof && p.eof !== db.eof) return `eof ${p.eof}`;
    if (p.data.equals(da.data) || p.data.equals(db.data)) return undefined;
    const text = (d: Buffer): string => normalized(op.path, d.toString('latin1'));
    return between(text(da.data), text(p.data), text(db.data)) ? undefined : `contents, ${firstDifference(text(da.data), text(p.data))}`;
  }
  if ('entries' in p) {
    const lists = [a, b].filter((s): s is Extract<Seen, { entries: unknown }> => 'entries' in s);
    // The top level lists every process: only its other names are compared (its processes are checked below).
    const names = (s: { entries: Array<{ name: string }> }): string => s.entries.map((e) => e.name).filter((n) => op.path !== '' || !/^\d+$/.test(n)).join(' ');
    if (!lists.some((l) => names(l) === names(p))) return `listing: direct ${lists.map(names).join(' | ')}, agent ${names(p)}`;
    for (const entry of p.entries) {
      if (op.path === '' && /^\d+$/.test(entry.name)) continue;
      const theirs = lists.map((l) => l.entries.find((e) => e.name === entry.name)?.attr ?? null);
      if (!theirs.some((t) => sameAttr(t, entry.attr))) return `attributes of ${entry.name}: direct ${JSON.stringify(theirs)}, agent ${JSON.stringify(entry.attr)}`;
    }
    return undefined;
  }
  if ('attr' in p) return [a, b].some((s) => 'attr' in s && sameAttr(s.attr, p.attr)) ? undefined : `lstat: direct ${JSON.stringify('attr' in a ? a.attr : a)}, agent ${JSON.stringify(p.attr)}`;
  if ('target' in p) return [a, b].some((s) => 'target' in s && s.target === p.target) ? undefined : `link: direct ${JSON.stringify(a)}, agent ${p.target}`;
  return 'an answer of another kind';
}

/** The operations: every directory listed, every entry lstat'ed, every file read, every link read. */
async function operations(local: LocalReader, pids: readonly number[], netOf: number): Promise<LocalOp[]> {
  const ops: LocalOp[] = [];
  const descend = (path: string): boolean => {
    if (path.startsWith('sys/') || path === 'sys') return true;
    const parts = path.split('/');
    if (parts[1] === 'task' && parts.length >= 3 && parts[2] !== parts[0]) return false; // the main thread stands for the others
    if (parts.includes('net') && (parts[0] !== String(netOf) || parts[1] === 'task')) return false; // one process's net/ is enough
    return pids.includes(Number(parts[0]));
  };
  let queue = ['', 'sys', ...pids.map(String)];
  while (queue.length > 0) {
    const dirs = queue;
    queue = [];
    const lists = await local.run(dirs.map((path) => ({ op: 'list', path })));
    dirs.forEach((dir, i) => {
      ops.push({ op: 'list', path: dir });
      const list = lists[i]!;
      if (!('entries' in list)) return;
      for (const { name, attr } of list.entries) {
        // The top level: its files and links; sys and the processes are walked on their own.
        if (dir === '' && (/^\d+$/.test(name) || name === 'sys')) continue;
        const path = dir === '' ? name : `${dir}/${name}`;
        ops.push({ op: 'lstat', path });
        if (!attr) continue;
        if (isFile(attr.mode)) ops.push({ op: 'read', path });
        // self and thread-self name whoever reads them.
        else if (isLink(attr.mode) && name !== 'self' && name !== 'thread-self') ops.push({ op: 'readlink', path });
        else if (isDir(attr.mode) && dir !== '' && descend(path)) queue.push(path);
      }
    });
  }
  return ops;
}

/** Starts `args` as `user` (setpriv), or as root; resolves once it runs the program as that user. */
async function started(args: readonly string[], user: TestUser | undefined, children: ChildProcess[]): Promise<number> {
  const child = user
    ? spawn('/usr/bin/setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', ...args], { stdio: ['pipe', 'ignore', 'ignore'] })
    : spawn(args[0]!, args.slice(1), { stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(child);
  const pid = child.pid!;
  for (let i = 0; i < 200; i++) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    if (new RegExp(`^Name:\\s*${args[0]}$`, 'm').test(status) && new RegExp(`^Uid:\\s*${user?.uid ?? 0}\\s`, 'm').test(status)) return pid;
    await sleep(20);
  }
  throw new Error(`${args.join(' ')} did not start`);
}

describe('agent: a peer gets what an unprivileged user of the host gets, file by file', () => {
  it('compares contents, listings, link targets and errors over /proc/sys, the top level and processes of root and of another user', { timeout: 600_000 }, () => withTestUsers(2, async ([reader, other]) => {
    const children: ChildProcess[] = [];
    let agent: RunningAgent | undefined;
    let client: ProcHostClient | undefined;
    let local: LocalReader | undefined;
    try {
      const pids = [
        await started(['sleep', '600'], undefined, children), await started(['cat'], undefined, children),
        await started(['sleep', '600'], other, children), await started(['cat'], other, children),
      ];
      const [, , otherSleep] = pids as [number, number, number, number];
      agent = await startAgent({ listen: '127.0.0.1:0', credentials: grpc.ServerCredentials.createInsecure(), readAs: resolveReadAs(reader!.name), name: 'cmp' });
      client = connectAgent('cmp', agent.address, grpc.credentials.createInsecure());
      agentPort = Number(agent.address.split(':')[1]).toString(16).toUpperCase().padStart(4, '0');
      local = new LocalReader(reader!);

      const ops = await operations(local, pids, otherSleep);
      const reads = ops.filter((o) => o.op === 'read');
      assert.ok(reads.filter((o) => o.path.startsWith('sys/')).length > 500, 'all of /proc/sys');
      for (const pid of pids) assert.ok(reads.some((o) => o.path === `${pid}/stat`), `process ${pid}`);
      const started0 = Date.now();
      const before = await local.run(ops);
      const peer = await throughAgent(client, ops);
      const after = await local.run(ops);
      const tookMs = Date.now() - started0;

      const differences: string[] = [];
      for (const [i, op] of ops.entries()) {
        let why = difference(op, before[i]!, peer[i]!, after[i]!);
        // Still different: the same three reads again, close together.
        for (let attempt = 0; why && attempt < 5; attempt++) {
          await sleep(50);
          const [a] = await local.run([op]);
          const [p] = await throughAgent(client, [op]);
          const [b] = await local.run([op]);
          why = difference(op, a!, p!, b!);
        }
        if (why) differences.push(`${op.op} ${op.path}: ${why}`);
      }
      assert.deepEqual(differences, [], `${differences.length} of ${ops.length} answers differ`);

      // The batches ps uses (ReadMany, ListMany) answer as the single calls do.
      const batchPaths = pids.flatMap((pid) => ['stat', 'status', 'cmdline', 'environ', 'wchan'].map((f) => `${pid}/${f}`));
      const many = { files: await readManyFiles(await unary(client.readMany.bind(client), { paths: batchPaths, maxBytesEach: 65536, acceptDeflate: true }, Date.now() + 30_000)) };
      const manyLocal = await local.run(batchPaths.map((path) => ({ op: 'read', path })));
      batchPaths.forEach((path, i) => {
        const f = many.files[i]!;
        const seen: Seen = f.error ? { error: f.error } : { data: Buffer.from(f.data), eof: f.eof };
        assert.equal(difference({ op: 'read', path }, manyLocal[i]!, seen, manyLocal[i]!), undefined, `ReadMany ${path}`);
      });
      const lists = await unary(client.listMany.bind(client), { paths: pids.map(String) }, Date.now() + 30_000);
      const listsLocal = await local.run(pids.map((pid) => ({ op: 'list', path: String(pid) })));
      pids.forEach((pid, i) => {
        const l = lists.lists[i]!;
        const seen: Seen = l.error ? { error: l.error } : { entries: l.entries.map((e) => ({ name: e.name, attr: e.attr ? { mode: e.attr.mode, uid: e.attr.uid, gid: e.attr.gid, size: e.attr.size } : null })) };
        assert.equal(difference({ op: 'list', path: String(pid) }, listsLocal[i]!, seen, listsLocal[i]!), undefined, `ListMany ${pid}`);
      });

      // What this is about: what root would see stays hidden, as it is from the user.
      const at = (path: string): Seen => peer[ops.findIndex((o) => o.op === 'read' && o.path === path)]!;
      assert.deepEqual(at(`${otherSleep}/environ`), { error: 'EACCES' });
      assert.deepEqual(at(`${pids[0]}/environ`), { error: 'EACCES' });
      const stat = at(`${otherSleep}/stat`);
      assert.ok('data' in stat);
      assert.deepEqual(stat.data.toString().replace(/^.*\) /s, '').split(' ').slice(23, 26), ['1', '1', '0'], 'startcode, endcode, startstack hidden');
      const iomem = at('iomem');
      assert.ok('data' in iomem && /^00000000-00000000 /.test(iomem.data.toString()), 'iomem addresses are zeros');
      const top = peer[ops.findIndex((o) => o.op === 'list' && o.path === '')]!;
      assert.ok('entries' in top && pids.every((pid) => top.entries.some((e) => e.name === String(pid))), 'the top level lists the processes');
      process.stderr.write(`# compared ${ops.length} answers (${reads.length} files) in ${tookMs} ms\n`);
    } finally {
      client?.close();
      await agent?.stop();
      await local?.stop();
      for (const child of children) await stopProcess(child);
    }
  }));
});
