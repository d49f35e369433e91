// The connection dies under the mount: requests in flight fail with EIO or are sent again,
// nothing hangs past the timeout, and the mount reconnects and keeps working.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory, withTestMount, type TestMountOptions } from '@kmx/core/testing';
import { startSshd } from '../src/testing/index.js';
import { SFTP_SERVER, kmx, shell, waitFor, withSshd } from './support.js';

/** Opens argv[1], says so, waits for a line, writes argv[2]'s bytes, says so, then fsyncs and closes. */
const WRITER = `
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
print('open', flush=True)
sys.stdin.readline()
data = open(sys.argv[2], 'rb').read()
done = 0
while done < len(data):
    done += os.write(fd, data[done:])
print('written', flush=True)
try:
    os.fsync(fd)
    os.close(fd)
except OSError as e:
    print('fsync failed:', e.strerror, flush=True)
    sys.exit(1)
`;

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Every descendant of `pid`, deepest last. */
async function descendants(pid: number): Promise<number[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean).map(Number);
  const all: number[] = [];
  for (const child of children) all.push(child, ...(await descendants(child)));
  return all;
}

async function commandOf(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
}

/** The sftp-server the mount's --via started (a child of the kmx process). */
async function viaServer(kmxPid: number): Promise<number | undefined> {
  for (const pid of await descendants(kmxPid)) if ((await commandOf(pid)).startsWith(SFTP_SERVER)) return pid;
  return undefined;
}

/** Whether a process still exists and is not a zombie. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/\) Z /.test(stat);
}

const signal = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};

/** A WRITER process on `target`, with what it has said so far and its exit code. */
function startWriter(target: string, source: string): { go: () => void; said: () => string; exit: Promise<number | null>; kill: () => void } {
  const writer = spawn('python3', ['-c', WRITER, target, source], { stdio: ['pipe', 'pipe', 'pipe'] });
  let said = '';
  writer.stdout.on('data', (d: Buffer) => (said += d.toString()));
  writer.stderr.on('data', (d: Buffer) => (said += d.toString()));
  return {
    go: () => writer.stdin.end('go\n'),
    said: () => said,
    exit: new Promise((resolve) => writer.once('exit', (code) => resolve(code))),
    kill: () => writer.kill('SIGKILL'),
  };
}

/** A --via sftp-server mount of DIR/srv, with these `-o` options. */
function viaMount(...options: string[]): Pick<TestMountOptions, 'prepare' | 'args'> {
  return {
    prepare: async ({ dir }) => {
      await mkdir(join(dir, 'srv'));
    },
    args: ({ dir, mnt }) => ['sftp', 'mount', '--via', SFTP_SERVER, ...options.flatMap((o) => ['-o', o]), `local:${dir}/srv`, mnt],
  };
}

async function mountStatus(mnt: string): Promise<string> {
  return (await kmx(['mounts'])).stdout.split('\n').find((l) => l.startsWith(`${mnt} `)) ?? '';
}

describe('kmx sftp mount: the connection drops', () => {
  // Write-behind larger than the file: the whole write is answered before the server is killed.
  it('--via: a read in flight is sent again, a write in flight fails with EIO at fsync/close, then it works again', () => withTestMount(viaMount('timeout=10', 'write_behind=16777216'), async ({ dir, mnt, server }) => {
    const data = randomBytes(8 * 1024 * 1024);
    await writeFile(join(dir, 'srv', 'big'), data);
    await writeFile(join(dir, 'source'), data);

    // Mid-read: the server is frozen with the read in flight, then killed.
    let victim = (await viaServer(server.pid!))!;
    signal(victim, 'SIGSTOP');
    const reading = shell(`sha256sum < '${mnt}/big'`, { timeoutMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    signal(victim, 'SIGKILL');
    const read = await reading;
    assert.equal(read.code, 0, `a read is retried on the new connection: ${read.stderr}`);
    assert.equal(read.stdout.split(' ')[0], sha(data));
    await waitFor('the mount to reconnect', async () => ((await viaServer(server.pid!)) ?? victim) !== victim);

    // Mid-write: a writer has the file open; the server freezes; its writes are answered at once
    // (write-behind: 2 MiB sent, the rest queued in kmx); the connection dies before any answer
    // from the server; fsync must report it, for the sent and the queued data alike.
    victim = (await viaServer(server.pid!))!;
    const writer = startWriter(join(mnt, 'copy'), join(dir, 'source'));
    try {
      await waitFor('the file to be open', () => writer.said().includes('open'));
      signal(victim, 'SIGSTOP');
      writer.go();
      await waitFor('the data to be sent', () => writer.said().includes('written'));
      signal(victim, 'SIGKILL');
      assert.equal(await writer.exit, 1, writer.said());
      assert.match(writer.said(), /fsync failed: Input\/output error/);
    } finally {
      writer.kill();
    }

    await waitFor('the mount to reconnect', async () => ((await viaServer(server.pid!)) ?? victim) !== victim);
    const again = await shell(`cp '${dir}/source' '${mnt}/copy2' && sha256sum < '${mnt}/copy2'`);
    assert.equal(again.stdout.split(' ')[0], sha(data), again.stderr);
    await waitFor('kmx mounts to say so', async () => /ok \(reconnected \d+ time\(s\)\)/.test(await mountStatus(mnt)));
  }));

  it('--via with reconnect=no: once the server is gone, everything fails with EIO at once, and the mount says so', () => withTestMount(viaMount('reconnect=no'), async ({ dir, mnt, server }) => {
    await writeFile(join(dir, 'srv', 'f'), 'data');
    const victim = (await viaServer(server.pid!))!;
    signal(victim, 'SIGKILL');
    await waitFor('kmx mounts to show the connection down', async () => /down: connection lost/.test(await mountStatus(mnt)));
    const started = Date.now();
    for (const script of [`cat '${mnt}/f'`, `ls '${mnt}'`, `touch '${mnt}/new'`, `mkdir '${mnt}/d'`]) {
      const r = await shell(script);
      assert.notEqual(r.code, 0, script);
      assert.match(r.stderr, /Input\/output error/, script);
    }
    assert.ok(Date.now() - started < 5_000, 'without waiting for a server');
    assert.equal(await viaServer(server.pid!), undefined, 'and without starting a new one');
  }));

  it('--via: what another file had queued behind the lost writes goes out on the new connection', () => withTestMount(viaMount('timeout=10', 'write_behind=16777216'), async ({ dir, mnt, server, output }) => {
    const lost = randomBytes(8 * 1024 * 1024);
    const kept = randomBytes(1024 * 1024);
    await writeFile(join(dir, 'lost'), lost);
    await writeFile(join(dir, 'kept'), kept);
    const victim = (await viaServer(server.pid!))!;
    const first = startWriter(join(mnt, 'lost'), join(dir, 'lost'));
    const second = startWriter(join(mnt, 'kept'), join(dir, 'kept'));
    try {
      await waitFor('both files to be open', () => first.said().includes('open') && second.said().includes('open'));
      signal(victim, 'SIGSTOP');
      // 2 MiB of the first file go out and stay unanswered; the rest, and all of the second, queue in kmx.
      first.go();
      await waitFor('the first file to be written', () => first.said().includes('written'));
      second.go();
      await waitFor('the second file to be written', () => second.said().includes('written'));
      signal(victim, 'SIGKILL');
      assert.equal(await first.exit, 1, first.said());
      assert.match(first.said(), /fsync failed: Input\/output error/);
      // None of the second file's writes was sent before the kill (the first file's filled the
      // window): they all go out on the new connection.
      assert.equal(await second.exit, 0, `the second writer said: ${second.said()}; kmx said:\n${output()}`);
      assert.equal(sha(await readFile(join(dir, 'srv', 'kept'))), sha(kept), output());
    } finally {
      first.kill();
      second.kill();
    }
  }));

  it('--via: a frozen server fails operations with EIO after the timeout, and is replaced', () => withTestMount(viaMount('timeout=2'), async ({ dir, mnt, server, output }) => {
    const victim = (await viaServer(server.pid!))!;
    signal(victim, 'SIGSTOP');
    const started = Date.now();
    const r = await shell(`stat '${mnt}/not-cached'`, { timeoutMs: 60_000 });
    const took = Date.now() - started;
    signal(victim, 'SIGKILL');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Input\/output error/);
    assert.ok(took < 20_000, `bounded by the timeout (took ${took} ms)`);
    await writeFile(join(dir, 'srv', 'later'), 'back');
    await waitFor('a new connection', async () => (await shell(`cat '${mnt}/later'`)).stdout === 'back').catch((err: Error) => {
      throw new Error(`${err.message}; the server said:\n${output()}`);
    });
  }));

  it('over SSH: the session killed mid-read, then the whole server gone and back', () => temporaryDirectory((outer) => withSshd(outer, async (sshd) => {
    const srv = join(outer, 'srv');
    await mkdir(srv);
    const data = randomBytes(8 * 1024 * 1024);
    await writeFile(join(srv, 'big'), data);
    await mkdir(join(outer, 'home', '.ssh'), { recursive: true });
    await writeFile(join(outer, 'home', '.ssh', 'known_hosts'), `${sshd.knownHostsLine}\n`);
    let current = sshd;
    try {
      await withTestMount({
        env: { HOME: join(outer, 'home'), SSH_AUTH_SOCK: '' },
        // A read is sent again on a new connection as long as one is made within the timeout of
        // its start: over SSH (a new key exchange) on a loaded machine that took more than 3 s.
        args: ({ mnt }) => ['sftp', 'mount', '-o', 'timeout=10', '-i', sshd.clientKey, `root@127.0.0.1:${sshd.port}:${srv}`, mnt],
      }, async ({ mnt, output }) => {
        // Kill the processes serving this connection (sshd's child and its sftp-server) during a read.
        const reading = shell(`sha256sum < '${mnt}/big'`, { timeoutMs: 60_000 });
        for (const pid of await descendants(sshd.pid)) signal(pid, 'SIGKILL');
        const read = await reading;
        assert.equal(read.code, 0, `a read is retried on the new connection: ${read.stderr}; kmx said:\n${output()}`);
        assert.equal(read.stdout.split(' ')[0], sha(data), 'a retried read is still right');
        await waitFor('a reconnection', async () => /reconnected/.test(await mountStatus(mnt)));
        assert.equal((await shell(`sha256sum < '${mnt}/big'`)).stdout.split(' ')[0], sha(data));

        // The server goes away: EIO within the timeout, `kmx mounts` says so; it comes back: so does the mount.
        // Its sessions must be gone before the lookup: one still dying would answer it (ENOENT).
        const sessions = await descendants(sshd.pid);
        await current.stop();
        for (const pid of sessions) signal(pid, 'SIGKILL');
        await waitFor('the sessions to end', async () => (await Promise.all(sessions.map(alive))).every((a) => !a));
        const gone = await shell(`ls '${mnt}/newdir-not-cached'`, { timeoutMs: 60_000 });
        assert.match(gone.stderr, /Input\/output error/);
        await waitFor('the state to show', async () => /reconnecting/.test(await mountStatus(mnt)));
        current = await startSshd(join(outer, 'sshd'), { port: sshd.port });
        await mkdir(join(srv, 'newdir'));
        await waitFor('the mount to come back', async () => (await shell(`ls '${mnt}/newdir'`)).code === 0, 30_000);
        await waitFor('kmx mounts to say so', async () => /ok \(reconnected \d+ time\(s\)\)/.test(await mountStatus(mnt)));
      });
    } finally {
      if (current !== sshd) await current.stop();
    }
  })));
});
