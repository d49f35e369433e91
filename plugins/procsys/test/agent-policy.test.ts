import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { libc } from '@kmx/core';
import { assertOneLineError, runKmx, withTestUsers } from '@kmx/core/testing';
import { LocalProc } from '../src/lib/proc/local-proc.js';
import { agentHandlers } from '../src/lib/rpc/agent.js';
import { ProcReader, resolveReadAs } from '../src/lib/rpc/reader.js';
import { readManyFiles } from '../src/lib/rpc/wire.js';

/** Calls one of the agent's handlers on this host's real /proc, the way gRPC would. */
function call<Req, Res>(handler: grpc.handleUnaryCall<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    handler({ request } as grpc.ServerUnaryCall<Req, Res>, (err, reply) => (err ? reject(err) : resolve(reply as Res)));
  });
}

const field = (status: string, name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';

describe('agent: what a remote client may read', () => {
  let reader: ProcReader;
  let agent: ReturnType<typeof agentHandlers>;
  /** An fd of this process without close-on-exec, as a caller of kmx may leave one: the reader must not get it. */
  let leaked = -1;
  before(async () => {
    leaked = Number(libc.koffi().load('libc.so.6').func('int open(const char *path, int flags)')('/etc/hostname', 0));
    assert.ok(leaked > 2);
    reader = await ProcReader.start(resolveReadAs());
    agent = agentHandlers(reader, { name: 'test', proc: new LocalProc() });
  });
  after(async () => {
    await reader?.stop();
    if (leaked > 2) closeSync(leaked);
  });
  const read = (path: string): Promise<string> => call(agent.read, { path, offset: 0, length: 8 << 20 }).then((r) => r.error || r.data.toString());

  it('reads through a process running as nobody: no capability, no group, no_new_privs, not dumpable, no fd of the agent', () => {
    const pid = reader.pid!;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.equal(field(status, 'Uid'), '65534\t65534\t65534\t65534');
    assert.equal(field(status, 'Gid'), '65534\t65534\t65534\t65534');
    assert.equal(field(status, 'Groups'), '');
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) assert.match(field(status, cap), /^0+$/, cap);
    assert.equal(field(status, 'NoNewPrivs'), '1');
    assert.equal(statSync(`/proc/${pid}/environ`).uid, 0, 'not dumpable: its /proc files are root\'s');
    // Its stdio (the agent's socketpairs) and what Node opens for itself; nothing of the agent's.
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      assert.match(target, Number(fd) <= 2 ? /^socket:/ : /^(pipe|anon_inode):|^\/dev\/null$/, `the reader holds ${target} as fd ${fd}`);
    }
    assert.equal(readFileSync(`/proc/${pid}/environ`, 'utf8'), '', 'an empty environment');
  });

  it('serves /proc files, its process table and net/ as nobody reads them', async () => {
    assert.match(await read('meminfo'), /^MemTotal:/);
    assert.match(await read('1/stat'), /^1 \(/);
    assert.match(await read('net/dev'), /Inter-\|/);
    const list = await call(agent.list, { path: '', follow: false });
    assert.equal(list.error, '');
    assert.ok(list.entries.some((e) => e.name === String(process.pid)));
    // Kernel addresses as an unprivileged reader sees them: zeros.
    const iomem = await read('iomem');
    assert.match(iomem, /^00000000-00000000 : /m);
    assert.doesNotMatch(iomem, /^(?!00000000-00000000)[0-9a-f]+-[0-9a-f]+ : /m);
    assert.doesNotMatch((await read('kallsyms')).slice(0, 100000), /^(?!0{16} )[0-9a-f]{16} /m);
    // Another user's stat: start and end of code, stack and wchan as nobody sees them (1, 1, 0 …).
    const fields = (await read('1/stat')).replace(/^.*\) /s, '').split(' ');
    assert.deepEqual([fields[23], fields[24], fields[25]], ['1', '1', '0'], 'startcode, endcode, startstack are hidden');
    assert.equal((await read('1/wchan')).trim(), '0');
  });

  it('never leaves /proc, nor shows what only ptrace access would (environ, maps, fds, links), nor its reader', async () => {
    for (const path of ['self/root/etc/passwd', '1/root/etc/passwd', `${process.pid}/cwd/package.json`, 'self/cwd/package.json', 'thread-self/root/etc/hostname', `${process.pid}/environ`, `${process.pid}/maps`, `${process.pid}/task/${process.pid}/maps`, 'self/status', `${reader.pid}/status`, `${reader.pid}/environ`]) {
      assert.equal(await read(path), 'EACCES', path);
    }
    assert.equal(await read('1/timerslack_ns'), 'EPERM', 'as the kernel answers nobody');
    assert.equal(await read('../etc/passwd'), 'EINVAL');
    assert.equal(await read('/etc/passwd'), 'EINVAL');
    assert.equal((await call(agent.list, { path: `${process.pid}/fd`, follow: false })).error, 'EACCES');
    assert.equal((await call(agent.list, { path: 'self/root', follow: false })).error, 'EACCES');
    assert.equal((await call(agent.readLink, { path: `${process.pid}/exe`, follow: false })).error, 'EACCES');
    assert.equal((await call(agent.stat, { path: 'self/fd/0', follow: false })).error, 'EACCES');
    assert.equal((await call(agent.stat, { path: `${process.pid}/fd/0`, follow: false })).error, 'EACCES');
    assert.equal((await call(agent.list, { path: String(reader.pid), follow: false })).error, 'EACCES', 'its own process directory');
    assert.equal((await call(agent.list, { path: 'self', follow: false })).error, 'EACCES');
    assert.equal((await call(agent.stat, { path: 'self', follow: false })).error, '', 'the top-level entry itself, as listed');
    const many = await call(agent.readMany, { paths: ['meminfo', '1/environ', '../x', '1/stat'], maxBytesEach: 65536, acceptDeflate: false });
    assert.deepEqual(many.files.map((f) => f.error), ['', 'EACCES', 'EINVAL', '']);
  });

  it('deflates a ReadMany reply for a client that accepts it, with the same files in the same order', async () => {
    const paths = [...Array.from({ length: 100 }, () => 'version'), '1/environ', '../x'];
    const plain = await call(agent.readMany, { paths, maxBytesEach: 65536, acceptDeflate: false });
    assert.equal(plain.deflated.length, 0, 'a client that did not ask gets the files as they are');
    const packed = await call(agent.readMany, { paths, maxBytesEach: 65536, acceptDeflate: true });
    assert.equal(packed.files.length, 0);
    assert.ok(packed.deflated.length > 0 && packed.deflated.length < plain.files.reduce((n, f) => n + f.data.length, 0) / 5, `${packed.deflated.length} bytes deflated`);
    const files = await readManyFiles(packed);
    assert.deepEqual(files.map((f) => [f.error, Buffer.from(f.data).toString(), f.eof]), plain.files.map((f) => [f.error, Buffer.from(f.data).toString(), f.eof]));
    const small = await call(agent.readMany, { paths: ['version'], maxBytesEach: 65536, acceptDeflate: true });
    assert.equal(small.deflated.length, 0, 'a small batch goes as it is');
    assert.equal((await readManyFiles(small))[0]?.error, '');
    await assert.rejects(readManyFiles({ files: [], deflated: Buffer.from('not deflate at all') }), { code: 'EPROTO' });
  });

  it('replaces a reader that died; requests after it are answered', async () => {
    const first = reader.pid!;
    const exited = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        try {
          statSync(`/proc/${first}`);
        } catch {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    process.kill(first, 'SIGKILL');
    await exited;
    // The first request may meet the dead one (EIO); within the restart pause, one is answered.
    const deadline = Date.now() + 10_000;
    let text = '';
    while (!/^MemTotal:/.test(text) && Date.now() < deadline) {
      text = await read('meminfo');
      if (!/^MemTotal:/.test(text)) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.match(text, /^MemTotal:/);
    assert.notEqual(reader.pid, first);
  });

  it('refuses writes unless started with --writable-keys', async () => {
    assert.equal((await call(agent.write, { path: 'sys/kernel/printk_ratelimit', offset: 0, data: Buffer.from('5\n') })).error, 'EROFS');
    assert.equal((await call(agent.write, { path: 'sys/../meminfo', offset: 0, data: Buffer.from('0\n') })).error, 'EINVAL');
  });

  it('refuses what the kernel would grant the reading user for its own processes: their environ, memory and fds', () => withTestUsers(1, async ([user]) => {
    const own = spawn('/usr/bin/setpriv', [`--reuid=${user!.uid}`, `--regid=${user!.gid}`, '--clear-groups', '--', 'sleep', '60'], { stdio: 'ignore', env: { SECRET: 'x' } });
    const asUser = await ProcReader.start(resolveReadAs(user!.name));
    try {
      const handlers = agentHandlers(asUser, { name: 'test', proc: new LocalProc() });
      const pid = own.pid!;
      // Until setpriv has become sleep, the process is still root's.
      for (let i = 0; i < 100 && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      const got = (path: string): Promise<string> => call(handlers.read, { path, offset: 0, length: 65536 }).then((r) => r.error || r.data.toString());
      for (const file of ['environ', 'maps', 'mem', 'auxv', 'wchan', `task/${pid}/environ`]) assert.equal(await got(`${pid}/${file}`), 'EACCES', file);
      assert.equal((await call(handlers.list, { path: `${pid}/fd`, follow: false })).error, 'EACCES');
      assert.equal((await call(handlers.readLink, { path: `${pid}/cwd`, follow: false })).error, 'EACCES');
      assert.match(await got(`${pid}/stat`), new RegExp(`^${pid} \\(sleep\\)`), 'its stat is served, as ps needs it');
    } finally {
      await asUser.stop();
      own.kill('SIGKILL');
      await new Promise((resolve) => (own.exitCode !== null || own.signalCode !== null ? resolve(undefined) : own.once('exit', resolve)));
    }
  }));

  it('never reads as root, nor as a user that does not exist: one line', async () => {
    assertOneLineError(await runKmx(['procsys', 'serve', '--insecure', '--listen', '127.0.0.1:0', '--read-as', 'root']), /--read-as: the agent never reads \/proc as root/, 2);
    assertOneLineError(await runKmx(['procsys', 'serve', '--insecure', '--listen', '127.0.0.1:0', '--read-as', 'nobody:root']), /--read-as: the agent never reads \/proc as root/, 2);
    assertOneLineError(await runKmx(['procsys', 'serve', '--insecure', '--listen', '127.0.0.1:0', '--read-as', 'kmx-no-such-user']), /--read-as: no user "kmx-no-such-user" on this host/, 2);
  });
});
