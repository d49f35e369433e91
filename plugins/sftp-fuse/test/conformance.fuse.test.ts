// The POSIX battery (posix-battery.ts) against mounts of a directory, each check compared with a
// plain directory (sameAsPlain): (a) sshfs over OpenSSH's sftp-server, the reference; (b) kmx
// sftp over the same sftp-server; (c) kmx sftp over `kmx sftp serve`, where both ends speak
// kmx's extension (docs/sftp.md, "Both ends kmx"), at the mount's defaults and (c0) with
// attr_timeout=0. kmx over sftp-server must pass every check sshfs passes, and kmx over kmx
// serve every check but the ones listed below, each with its reason (with attr_timeout=0, at
// most a tenth of what sshfs fails). The table goes to stderr;
// KMX_CONFORMANCE_VERBOSE=1 adds how each failing check differed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kmxBin, mountsUnder, run, sameAsPlain, temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { POSIX_BATTERY } from './posix-battery.js';
import { SFTP_SERVER, waitFor } from './support.js';

type Target = 'sshfs' | 'kmx' | 'kmx-serve' | 'kmx-serve-0';
/** Per check: undefined when it passed, else how the mount's output differed. */
type Results = Map<string, string | undefined>;

const engine = process.env.KMX_FUSE_ENGINE ?? 'libfuse3';

/** Checks kmx over kmx serve may fail whatever the options, and why. */
const SERVE_EXCEPTIONS: Record<string, string> = {
  'mknod of a device node (root)': 'kmx sftp serve never makes device nodes (EPERM), whoever it runs as',
  ...(engine === 'fuse-native' ? {
    'nlink: an unlinked open file is not listed': 'libfuse 2 keeps it as .fuse_hidden* until it is closed (sshfs does the same)',
    'nlink: fstat after one of two names is unlinked': 'the name libfuse 2 hid instead of unlinking it still counts for the file\'s other name',
  } : {}),
};

/**
 * And on fuse-native at the default attr_timeout (1 s): each name of a file is a node of its
 * own to the kernel, which keeps a name's attributes that long; what a link or unlink through
 * one name changed (link count, ctime) shows through the others after that (at once with
 * attr_timeout=0: c0). The libfuse3 engine tells the kernel to forget the other names'
 * attributes; libfuse 2's high-level API has no way to.
 */
const SIBLING = 'the kernel\'s attribute cache of another name of the file (attr_timeout; fuse-native)';
const DEFAULT_TIMEOUT_EXCEPTIONS: Record<string, string> = engine !== 'fuse-native' ? {} : {
  'file times: link moves ctime only': SIBLING,
  'file times: unlinking another name moves ctime only': SIBLING,
  'nlink: hard links': SIBLING,
  'nlink: a renamed hard link': SIBLING,
  'nlink: fstat after one of two names is unlinked': SIBLING,
};

async function battery(mnt: string, plain: string): Promise<Results> {
  const results: Results = new Map();
  for (const [i, check] of POSIX_BATTERY.entries()) {
    const script = `mkdir c${i} && cd c${i} && ${check.script}`;
    try {
      await sameAsPlain(mnt, plain, script);
      results.set(check.name, undefined);
    } catch (err) {
      if (!(err instanceof assert.AssertionError) || !/differs from a plain directory/.test(err.message)) throw err;
      results.set(check.name, err.message);
    }
  }
  return results;
}

/** sshfs -o passive over a pipe to sftp-server serving `srv`; both stopped by pid afterwards. */
async function withSshfs<T>(dir: string, body: (mnt: string) => Promise<T>): Promise<T> {
  const srv = join(dir, 'srv');
  const mnt = join(dir, 'mnt');
  await mkdir(srv);
  await mkdir(mnt);
  const server = spawn(SFTP_SERVER, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const sshfs = spawn('sshfs', ['-f', '-o', 'passive', `local:${srv}`, mnt], { stdio: ['pipe', 'pipe', 'inherit'] });
  server.stdout.pipe(sshfs.stdin);
  sshfs.stdout.pipe(server.stdin);
  server.stdin.on('error', () => undefined);
  sshfs.stdin.on('error', () => undefined);
  const exited = (child: typeof server): Promise<void> => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
  try {
    await waitFor('sshfs to mount', async () => (await mountsUnder(mnt)).length > 0);
    return await body(mnt);
  } finally {
    await run('fusermount3', ['-u', mnt]);
    for (const child of [sshfs, server]) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited(child);
      clearTimeout(timer);
    }
  }
}

const kmxMount = (via: (dir: string) => string, remote: (dir: string) => string, extra: string[] = []) => ({
  prepare: async ({ dir }: { dir: string }) => {
    await mkdir(join(dir, 'srv'));
    await mkdir(join(dir, 'plain'));
  },
  args: ({ dir, mnt }: { dir: string; mnt: string }) => ['sftp', 'mount', ...extra, '--via', via(dir), `local:${remote(dir)}`, mnt],
});

function failures(results: Results): string[] {
  return [...results].filter(([, failed]) => failed !== undefined).map(([name]) => name);
}

describe(`POSIX battery (${POSIX_BATTERY.length} checks; ${engine})`, () => {
  const results = new Map<Target, Results>();

  it('(a) sshfs over sftp-server', () => temporaryDirectory(async (dir) => {
    await mkdir(join(dir, 'plain'));
    results.set('sshfs', await withSshfs(dir, (mnt) => battery(mnt, join(dir, 'plain'))));
  }));

  it('(b) kmx sftp --via sftp-server', () => withTestMount(kmxMount(() => SFTP_SERVER, (dir) => `${dir}/srv`), async ({ dir, mnt }) => {
    results.set('kmx', await battery(mnt, join(dir, 'plain')));
  }));

  const serve = (dir: string): string => `${process.execPath} ${kmxBin()} sftp serve --root '${dir}/srv'`;

  it('(c) kmx sftp --via kmx sftp serve', () => withTestMount(kmxMount(serve, () => '/'), async ({ dir, mnt }) => {
    results.set('kmx-serve', await battery(mnt, join(dir, 'plain')));
  }));

  it('(c0) kmx sftp -o attr_timeout=0 --via kmx sftp serve', () => withTestMount(kmxMount(serve, () => '/', ['-o', 'attr_timeout=0']), async ({ dir, mnt }) => {
    results.set('kmx-serve-0', await battery(mnt, join(dir, 'plain')));
  }));

  it('kmx fails no check sshfs passes; over kmx serve, only the listed exceptions', () => {
    const [a, b, c, c0] = (['sshfs', 'kmx', 'kmx-serve', 'kmx-serve-0'] as const).map((t) => results.get(t));
    assert.ok(a && b && c && c0, 'every target ran');
    const rows = POSIX_BATTERY.map((check) => `#   ${[a, b, c, c0].map((r) => (r.get(check.name) === undefined ? 'pass' : 'FAIL')).join('  ')}  ${check.name}`);
    process.stderr.write(`# POSIX battery on ${engine}, failed of ${POSIX_BATTERY.length}: (a) sshfs ${failures(a).length}, (b) kmx ${failures(b).length}, (c) kmx-serve ${failures(c).length}, (c0) the same with attr_timeout=0 ${failures(c0).length}\n#   (a)   (b)   (c)   (c0)\n${rows.join('\n')}\n`);
    if (process.env.KMX_CONFORMANCE_VERBOSE) {
      for (const [target, r] of [['sshfs', a], ['kmx', b], ['kmx-serve', c], ['kmx-serve-0', c0]] as const) {
        for (const [check, failed] of r) if (failed !== undefined) process.stderr.write(`# ---- ${target}: ${check}\n${failed.replace(/^/gm, '#   ')}\n`);
      }
    }
    const worse = POSIX_BATTERY.filter((check) => a.get(check.name) === undefined && b.get(check.name) !== undefined).map((check) => check.name);
    assert.deepEqual(worse, [], 'kmx --via sftp-server fails checks that sshfs passes');
    assert.deepEqual(failures(c).filter((name) => !(name in SERVE_EXCEPTIONS) && !(name in DEFAULT_TIMEOUT_EXCEPTIONS)), [], 'kmx --via kmx sftp serve fails checks beyond the listed exceptions');
    assert.deepEqual(failures(c0).filter((name) => !(name in SERVE_EXCEPTIONS)), [], 'with attr_timeout=0, kmx --via kmx sftp serve fails checks beyond the listed exceptions');
    assert.ok(failures(c0).length * 10 <= failures(a).length, `with attr_timeout=0, kmx --via kmx sftp serve fails at most a tenth of what sshfs fails (${failures(c0).length} against ${failures(a).length})`);
    if (engine !== 'fuse-native') assert.ok(failures(c).length * 10 <= failures(a).length, `kmx --via kmx sftp serve fails at most a tenth of what sshfs fails (${failures(c).length} against ${failures(a).length})`);
  });
});
