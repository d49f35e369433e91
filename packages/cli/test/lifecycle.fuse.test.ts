import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { readMountRecords } from '@kmx/core';
import { listedMount, mountsUnder, runKmx, sh, temporaryDirectory, withTestMount } from '@kmx/core/testing';


/** Processes with /dev/fuse open, as `pid: command line`. */
async function fuseDeviceHolders(): Promise<string[]> {
  const holders: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) !== '/dev/fuse') continue;
      holders.push(`${pid}: ${(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ').trim()}`);
      break;
    }
  }
  return holders;
}

function passthroughArgs({ dir, mnt }: { dir: string; mnt: string }): string[] {
  return ['passthrough', join(dir, 'src'), mnt];
}

async function prepare({ dir }: { dir: string }): Promise<void> {
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'hello'), 'hello\n');
}

/** Whether a mount record names this mountpoint or this server (another test's mount may reuse the device number at once). */
const recorded = async (mnt: string, pid: number | undefined): Promise<boolean> => (await readMountRecords()).some((r) => r.mountpoint === mnt || r.pid === pid);

describe('mount lifecycle', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`a foreground mount unmounts cleanly on ${signal} and exits 0`, () => withTestMount({ prepare, args: passthroughArgs }, async (m) => {
      assert.equal((await sh(`cat '${m.mnt}/hello'`)).stdout, 'hello\n');
      const record = await listedMount(m.mnt, 'ok');
      assert.ok(record, 'listed by kmx mounts');
      assert.equal(record.pid, m.server.pid);
      assert.equal(record.plugin, 'passthrough');
      assert.equal(record.source, join(m.dir, 'src'));
      assert.equal(record.state, 'ok');
      assert.equal(record.fstype, 'fuse.kmx-passthrough');
      assert.equal(await m.stop(signal), 0, m.output());
      assert.deepEqual(await mountsUnder(m.mnt), []);
      assert.equal(await recorded(m.mnt, m.server.pid), false, 'record removed');
    }));
  }

  it('unmounted from outside, the server exits 0 by itself', () => withTestMount({ prepare, args: passthroughArgs }, async (m) => {
    const r = await runKmx(['umount', m.mnt]);
    assert.equal(r.code, 0, r.stderr);
    const exited = await new Promise<number | null>((resolve) => {
      if (m.server.exitCode !== null) resolve(m.server.exitCode);
      m.server.once('exit', (code) => resolve(code));
    });
    assert.equal(exited, 0, m.output());
  }));

  it('a server killed with SIGKILL leaves a stale mount that kmx mounts shows and kmx umount clears', () => withTestMount({ prepare, args: passthroughArgs }, async (m) => {
    await m.stop('SIGKILL');
    // Seen once in a loaded full run (fuse-native): the mount still unresponsive right after the
    // server's exit. The kernel aborts the connection when the last /dev/fuse reference goes; give
    // it a moment, and name any process still holding one if it never does.
    let state = (await listedMount(m.mnt, 'stale'))?.state;
    if (state !== 'stale') state = (await listedMount(m.mnt, 'stale'))?.state;
    assert.equal(state, 'stale', `processes holding /dev/fuse: ${(await fuseDeviceHolders()).join('; ') || 'none'}`);
    assert.match((await sh(`ls '${m.mnt}'`)).stderr, /not connected/);
    const r = await runKmx(['umount', m.mnt]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await mountsUnder(m.mnt), []);
    assert.equal(await listedMount(m.mnt), undefined);
  }));

  // A mount namespace made while the mount exists holds a copy of it; files open after a lazy
  // unmount hold it too. The kernel session lives on, so a server waiting for it would never exit.
  const cases = [
    { holder: 'a copy in another mount namespace', stop: 'SIGTERM' },
    { holder: 'a process inside after a lazy unmount', stop: 'SIGTERM' },
    { holder: 'a copy in another mount namespace', stop: 'kmx umount' },
  ] as const;
  for (const { holder, stop } of cases) {
    it(`on ${stop}, the server exits 0 within seconds although ${holder} still reaches the mount`, () => withTestMount({ prepare, args: passthroughArgs }, async (m) => {
      const copy = holder.startsWith('a copy');
      const holding = copy ? spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' }) : spawn('sleep', ['60'], { cwd: m.mnt, stdio: 'ignore' });
      try {
        await sleep(200);
        const inHolder = `/proc/${holding.pid}/${copy ? `root${m.mnt}` : 'cwd'}`;
        assert.equal((await sh(`cat '${inHolder}/hello'`)).stdout, 'hello\n', 'the holder reaches the mount');
        const started = Date.now();
        if (stop === 'SIGTERM') {
          assert.equal(await m.stop('SIGTERM'), 0, m.output());
        } else {
          const r = await runKmx(['umount', m.mnt]);
          assert.equal(r.code, 0, r.stderr);
          const code = m.server.exitCode ?? await new Promise<number | null>((resolve) => m.server.once('exit', resolve));
          assert.equal(code, 0, m.output());
        }
        assert.ok(Date.now() - started < 8_000, `exited after ${Date.now() - started} ms`);
        assert.match(m.output(), /ending the session/);
        assert.match((await sh(`stat '${inHolder}/'`)).stderr, /not connected/, 'what still reached the mount is cut off');
        assert.equal(await recorded(m.mnt, m.server.pid), false, 'record removed');
      } finally {
        holding.kill('SIGKILL');
      }
    }));
  }

  it('a busy mount refuses a plain umount with a hint, and --lazy detaches it', () => withTestMount({ prepare, args: passthroughArgs }, async (m) => {
    const holder = spawn('sleep', ['60'], { cwd: m.mnt, stdio: 'ignore' });
    try {
      await sleep(100);
      const busy = await runKmx(['umount', m.mnt]);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /^kmx: .*busy.*; a process still uses it: close it, or unmount with --lazy\n$/);
      const lazy = await runKmx(['umount', '--lazy', m.mnt]);
      assert.equal(lazy.code, 0, lazy.stderr);
      assert.deepEqual(await mountsUnder(m.mnt), []);
    } finally {
      holder.kill('SIGKILL');
    }
  }));

  it('a mount busy only for a moment (a process leaving it, a stat of it) is unmounted, not refused', () => withTestMount({ prepare, args: passthroughArgs }, async (m) => {
    const holder = spawn('sleep', ['60'], { cwd: m.mnt, stdio: 'ignore' });
    try {
      await sleep(100);
      const umount = runKmx(['umount', m.mnt]);
      // kmx umount (started in ~150 ms) meets the mount busy, then the holder leaves while it tries again.
      await sleep(400);
      holder.kill('SIGKILL');
      const done = await umount;
      assert.equal(done.code, 0, done.stderr);
      assert.deepEqual(await mountsUnder(m.mnt), []);
    } finally {
      holder.kill('SIGKILL');
    }
  }));

  it('--daemon exits 0 once the mount answers; the daemon serves until kmx umount', () => temporaryDirectory(async (dir) => {
    await prepare({ dir });
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const started = await runKmx(['passthrough', '--daemon', join(dir, 'src'), mnt]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /mounted on .* \(pid \d+\)/);
    // The parent has exited: the mount must already answer.
    assert.equal((await sh(`cat '${mnt}/hello'`)).stdout, 'hello\n');
    const record = await listedMount(mnt, 'ok');
    assert.equal(record?.state, 'ok');
    const pid = record?.pid ?? 0;
    assert.ok(pid > 0 && pid !== process.pid);
    const stopped = await runKmx(['umount', mnt]);
    assert.equal(stopped.code, 0, stopped.stderr);
    for (let i = 0; i < 100 && processAlive(pid); i++) await sleep(50);
    assert.equal(processAlive(pid), false, 'the daemon exits after its mount is gone');
  }));
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
