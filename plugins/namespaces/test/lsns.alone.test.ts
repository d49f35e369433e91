import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOneLineError, kmxBin, run, runKmx } from '@kmx/core/testing';
import type { ListJson } from '../src/commands/ns/list.js';
import { NamespaceLab, comm, inodeOf, nsLink } from './lab.js';

/**
 * kmx ns list against util-linux's lsns (2.38) on the same host, with namespaces of its own:
 * lsns's flags, its columns and values, its JSON keys (the same jq programs on both).
 */

const LSNS_KEYS = ['ns', 'type', 'path', 'nprocs', 'pid', 'ppid', 'command', 'uid', 'user', 'netnsid', 'nsfs', 'pns', 'ons'] as const;
type LsnsRow = Record<(typeof LSNS_KEYS)[number], unknown>;
/** A UTF-8 locale, as most users have: lsns escapes non-ASCII text in others. */
const ENV = { ...process.env, LC_ALL: 'C.UTF-8' };
/** A process that waits, with the command line given after it (a shell would fork its sleep). */
const PAUSE = ['python3', '-c', 'import time;time.sleep(600)'];

async function both(args: readonly string[]): Promise<{ lsns: string; kmx: string }> {
  const [theirs, ours] = await Promise.all([run('lsns', args, { env: ENV }), runKmx(['ns', 'list', ...args], { env: ENV })]);
  assert.equal(theirs.code, 0, `lsns ${args.join(' ')}: ${theirs.stderr}`);
  assert.equal(ours.code, 0, `kmx ns list ${args.join(' ')}: ${ours.stderr}`);
  return { lsns: theirs.stdout, kmx: ours.stdout };
}

async function lsnsJson(): Promise<LsnsRow[]> {
  const r = await run('lsns', ['-J', '--output-all'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { namespaces: LsnsRow[] }).namespaces;
}

async function kmxJson(...args: string[]): Promise<ListJson> {
  const r = await runKmx(['ns', 'list', '--json', ...args], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ListJson;
}

async function jq(program: string, input: string, ...args: string[]): Promise<string> {
  const r = await run('jq', ['-c', ...args, program], { input });
  assert.equal(r.code, 0, `jq ${program}: ${r.stderr}`);
  return r.stdout;
}

describe('kmx ns list speaks lsns', () => {
  const lab = new NamespaceLab();
  const netns = `kmxt-lsns-${process.pid}`;
  const bare = `kmxt-bare-${process.pid}`;
  /** A process in the named netns (its own mount namespace too, from ip netns exec). */
  let inNetns: number;
  /** A uts namespace whose process has an awkward command line. */
  let odd: number;
  /** A user namespace two levels down, and one made by a uid with no name. */
  let nested: number;
  let nameless: number;
  let secondMount: string;

  before(async () => {
    await lab.exec('ip', ['netns', 'add', netns]);
    await lab.exec('ip', ['netns', 'set', netns, '42']);
    await lab.exec('ip', ['netns', 'add', bare]);
    secondMount = lab.bindTarget(lab.dir, 'netns-again');
    await lab.exec('mount', ['--bind', `/run/netns/${netns}`, secondMount]);
    const ourNet = nsLink('self', 'net');
    inNetns = await lab.start('ip', ['netns', 'exec', netns, 'sleep', '600'], (p) => comm(p) === 'sleep' && nsLink(p, 'net') !== ourNet);
    const ourUts = nsLink('self', 'uts');
    odd = await lab.start('unshare', ['--uts', ...PAUSE, 'a\\b', 't\tx\ny', 'a\\xb', 'ü€', 'c\u0001d'],
      (p) => comm(p) === 'python3' && nsLink(p, 'uts') !== ourUts);
    const ourUser = nsLink('self', 'user');
    nested = await lab.start('unshare', ['-Ur', 'unshare', '-Ur', 'sleep', '600'], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ourUser);
    nameless = await lab.start('unshare', ['--user', '--uts', 'sleep', '600'], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ourUser,
      { uid: 43210, gid: 43210 });
  });
  after(async () => {
    await lab.cleanUp();
    for (const name of [netns, bare]) await run('ip', ['netns', 'del', name]);
  });

  it('gives every namespace lsns -J --output-all\'s keys with lsns\'s values, beside kmx\'s own', async () => {
    // Other tests share the host: compare what both lsns runs agree on, before and after kmx.
    const first = await lsnsJson();
    const ours = new Map((await kmxJson()).namespaces.map((n) => [n.ns, n]));
    const second = new Map((await lsnsJson()).map((row) => [row.ns, row]));
    const fixtures = [inodeOf(inNetns, 'net'), inodeOf(inNetns, 'mnt'), inodeOf(odd, 'uts'), inodeOf(nested, 'user'), inodeOf(nameless, 'user'), inodeOf(nameless, 'uts')];
    let compared = 0;
    for (const row of first) {
      const again = second.get(row.ns);
      if (!again || again.pid !== row.pid) continue; // gone, or its inode reused
      const mine = ours.get(row.ns as number);
      assert.ok(mine, `kmx lists lsns's ${String(row.type)}:[${String(row.ns)}]`);
      for (const key of LSNS_KEYS) {
        if (JSON.stringify(again[key]) !== JSON.stringify(row[key])) continue; // changed meanwhile (nprocs)
        assert.deepEqual(mine[key], row[key], `${key} of ${String(row.type)}:[${String(row.ns)}]`);
      }
      compared++;
    }
    assert.ok(compared > 8, `compared ${compared} namespaces`);
    for (const inode of fixtures) assert.ok(first.some((r) => r.ns === inode) && ours.has(inode), `[${inode}] in both`);
    const net = ours.get(inodeOf(inNetns, 'net'));
    assert.deepEqual([net?.netnsid, net?.nsfs], ['42', `/run/netns/${netns}\n${secondMount}`]);
    assert.deepEqual([ours.get(inodeOf(nameless, 'uts'))?.user, ours.get(inodeOf(nameless, 'uts'))?.uid], ['43210', 43210]);
    assert.equal(ours.get(inodeOf(nested, 'user'))?.pns, ours.get(inodeOf(nested, 'user'))?.parent);
    assert.ok(net && Array.isArray(net.processes) && net.label === `net:[${net.ns}]`, 'kmx\'s own keys are kept');
  });

  it('answers jq programs written for lsns -J as lsns does', async () => {
    const fixtures = JSON.stringify([inodeOf(inNetns, 'net'), inodeOf(inNetns, 'mnt'), inodeOf(odd, 'uts'), inodeOf(nested, 'user'), inodeOf(nameless, 'user')]);
    const programs = [
      '[.namespaces[] | select(.ns as $n | $mine | index($n)) | {ns, type, nprocs, pid, ppid, uid, user, command, path, pns, ons}]',
      '[.namespaces[] | select(.type == "net" and .netnsid != "unassigned" and .netnsid != null and (.ns as $n | $mine | index($n))) | {ns, netnsid, nsfs: (.nsfs | split("\\n"))}]',
      '[.namespaces[] | select((.ns as $n | $mine | index($n)) and (.command | test("sleep"))) | "\\(.type) \\(.pid) \\(.user)"] | sort',
      '[.namespaces[] | select(.user == "43210") | .type] | sort',
    ];
    for (const program of programs) {
      const theirs = await run('lsns', ['-J', '--output-all'], { env: ENV });
      const ours = await runKmx(['ns', 'list', '--json'], { env: ENV });
      const expected = await jq(program, theirs.stdout, '--argjson', 'mine', fixtures);
      assert.notEqual(expected.trim(), '[]', `lsns answers ${program}`);
      assert.equal(await jq(program, ours.stdout, '--argjson', 'mine', fixtures), expected, program);
    }
  });

  it('lists more than lsns, and what lsns misses is real', async () => {
    const theirs = new Set((await lsnsJson()).map((r) => r.ns));
    const ours = await kmxJson('-t', 'net');
    const extra = ours.namespaces.filter((n) => !theirs.has(n.ns));
    const held = extra.find((n) => n.path === `/run/netns/${bare}`);
    assert.ok(held, `the process-less /run/netns/${bare} is listed`);
    assert.deepEqual([held.nprocs, held.pid, held.user, held.nsfs], [0, null, null, `/run/netns/${bare}`]);
    assert.ok(held.command.startsWith(`[bind mount /run/netns/${bare}`), held.command); // and in mount namespaces copied from ours
    for (const n of extra) {
      if (n.path === null) continue;
      try {
        assert.equal(statSync(n.path).ino, n.ns, `${n.path} leads to ${n.label}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // another test's, gone since
      }
    }
  });

  it('prints -o, -t, -p, -r, -n, -l and -W output as lsns does', async () => {
    const all = 'NS,TYPE,PATH,NPROCS,PID,PPID,COMMAND,UID,USER,NETNSID,NSFS,PNS,ONS';
    // Only the test's own namespaces (by -p and -t), so the widths depend on nothing else.
    // lsns's default columns, and kmx's: the same with FOUND before COMMAND.
    const lsnsDefault = 'NS,TYPE,NPROCS,PID,USER,NETNSID,NSFS,COMMAND';
    for (const wrap of [[], ['-W']]) {
      const theirs = (await both(['-p', String(inNetns), '-t', 'net', ...wrap])).lsns;
      const ours = await both(['-p', String(inNetns), '-t', 'net', '-o', lsnsDefault, ...wrap]);
      assert.equal(ours.kmx, theirs, `kmx ns list -o ${lsnsDefault} ${wrap.join(' ')}`);
      assert.match(ours.lsns.split('\n')[0] ?? '', /^ +NS TYPE NPROCS +PID USER NETNSID NSFS +COMMAND$/);
      const header = (await runKmx(['ns', 'list', '-p', String(inNetns), '-t', 'net', ...wrap])).stdout.split('\n')[0];
      assert.match(header ?? '', /^ +NS TYPE NPROCS +PID USER NETNSID NSFS +FOUND +COMMAND$/);
    }
    const cases: string[][] = [
      ['-p', String(inNetns), '-t', 'net', '-o', all],
      ['-p', String(inNetns), '-t', 'net', '-t', 'mnt', '-o', all.toLowerCase(), '-W'],
      ['-p', String(inNetns), '-t', 'net', '-rn', '-o', all],
      ['-rp', String(odd), '-t', 'uts', '-o', 'NS,TYPE,PATH,PPID,COMMAND'],
      ['-p', String(odd), '-tuts', '-o', 'NS,COMMAND,PID'],
      ['-p', String(odd), '-t', 'uts', '-o', 'NS,COMMAND,PID', '-r'],
      ['-nl', '-p', String(nameless), '-t', 'user', '-t', 'uts', '-o', 'NS,TYPE,NPROCS,PID,UID,USER,PNS,ONS'],
      ['-p', String(nested), '-t', 'user', '-o', 'ns,pns,ons,command', '-u'],
    ];
    for (const args of cases) {
      const { lsns, kmx } = await both(args);
      assert.equal(kmx, lsns, `kmx ns list ${args.join(' ')}`);
    }
    const { lsns, kmx } = await both(['-p', String(odd), '-t', 'uts', '-r', '-o', 'command']);
    assert.match(kmx, /^COMMAND\n\S*python3\\x20-c\\x20import\\x20time;time.sleep\(600\)\\x20a\\x5cb\\x20t\\x09x\\x0ay\\x20a\\x5cxb\\x20\\xc3\\xbc\\xe2\\x82\\xac\\x20c\\x01d\n$/);
    assert.equal(kmx, lsns);
    const added = await runKmx(['ns', 'list', '-rnp', String(odd), '-t', 'uts', '-o', '+path,PPID']);
    assert.equal(added.stdout, `${inodeOf(odd, 'uts')} uts 1 ${odd} root proc ${kmx.split('\n')[1]} /proc/${odd}/ns/uts ${process.pid}\n`, '-o + adds to the defaults');
  });

  it('cuts COMMAND to the terminal as lsns does, and not with -u', async () => {
    const long = await lab.start('unshare', ['--uts', ...PAUSE, 'a'.repeat(40), 'b'.repeat(40)],
      (p) => comm(p) === 'python3' && nsLink(p, 'uts') !== nsLink('self', 'uts'));
    const at60 = async (command: string): Promise<string> => {
      const r = await run('script', ['-qec', `stty cols 60; ${command}`, '/dev/null'], { env: ENV });
      assert.equal(r.code, 0, `${command}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    for (const flags of ['-o NS,TYPE,COMMAND,PID', '-o NS,COMMAND', '-u -o NS,TYPE,COMMAND,PID']) {
      const args = `-p ${long} -t uts ${flags}`;
      const ours = await at60(`${process.execPath} ${kmxBin()} ns list ${args}`);
      assert.equal(ours, await at60(`lsns ${args}`), args);
      assert.equal(flags.startsWith('-u'), ours.includes('b'.repeat(40)), `${args}:\n${ours}`);
    }
  });

  it('refuses what lsns refuses, in one line naming what it accepts', async () => {
    // lsns -p of a pid that does not exist prints an empty list: kmx says so instead.
    const cases: Array<{ args: string[]; error: RegExp; code: number; lsnsFails?: false }> = [
      { args: ['-o', 'NS,BOGUS'], error: /^kmx: unknown column: "BOGUS"; columns: NS, TYPE, PATH, NPROCS, PID, PPID, COMMAND, UID, USER, NETNSID, NSFS, PNS, ONS, FOUND, ID$/, code: 2 },
      { args: ['-t', 'bogus'], error: /^kmx: Expected --type=bogus to be one of: cgroup, ipc, mnt, net, pid, time, user, uts; /, code: 2 },
      { args: ['-p', 'abc'], error: /^kmx: invalid PID argument: 'abc'; give a process id/, code: 2 },
      { args: ['-p', '4194304'], error: /^kmx: process 4194304: no such process \(ESRCH\); give the pid of a running process/, code: 1, lsnsFails: false },
    ];
    for (const { args, error, code, lsnsFails } of cases) {
      if (lsnsFails !== false) assert.notEqual((await run('lsns', args)).code, 0, `lsns ${args.join(' ')} fails too`);
      assertOneLineError(await runKmx(['ns', 'list', ...args]), error, code);
    }
    assert.notEqual((await run('lsns', ['-rJ'])).code, 0);
    const both = await runKmx(['ns', 'list', '-rJ']); // --json asked for: the error comes as JSON
    assert.equal(both.code, 2);
    assert.match((JSON.parse(both.stdout) as { error: { message: string } }).error.message, /^--raw and --json are mutually exclusive$/);
  });

  it('as root, warns only of what may hide a namespace: not of a name too long to read', async () => {
    // A process holding an fd on a directory whose path is longer than a page: readlink fails.
    const deep = join(lab.dir, 'deep');
    const holder = await lab.start('python3', ['-c', [
      'import os, sys',
      `os.mkdir(${JSON.stringify(deep)}); os.chdir(${JSON.stringify(deep)})`,
      'for _ in range(25): os.mkdir("d" * 200); os.chdir("d" * 200)',
      'fd = os.open(".", os.O_RDONLY); os.set_inheritable(fd, True)',
      'os.execvp("sleep", ["sleep", "600"])',
    ].join('\n')], (p) => comm(p) === 'sleep');
    try {
      const quiet = await runKmx(['ns', 'list']);
      assert.equal(quiet.code, 0);
      assert.doesNotMatch(quiet.stderr, /process|fd/, 'nothing of processes or fds to warn root about');
      const verbose = await runKmx(['ns', 'list', '--verbose']);
      assert.match(verbose.stderr, new RegExp(`^kmx ns: kept from root too, or not a namespace \\(no tool sees more\\):$[^]*^ {2}fds /proc/${holder}/fd/\\d+: ENAMETOOLONG$`, 'm'));
      const json = await kmxJson();
      assert.ok(json.inaccessible.items.some((i) => i.code === 'ENAMETOOLONG' && i.target.startsWith(`/proc/${holder}/fd/`)), 'still in --json');
      const lsns = await run('lsns', []);
      assert.equal(lsns.stderr, '', 'lsns says nothing either');
    } finally {
      await lab.kill(holder);
      await run('rm', ['-rf', deep]); // rm walks it step by step; a path this long defeats one rmdir
    }
  });
});
