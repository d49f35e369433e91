import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, lstat, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mountsUnder, run, runKmx, sh, withTestMount, type RunResult, type TestMount, type TestMountOptions } from '@kmx/core/testing';

// Shared by kmx enc's tests: real gocryptfs as the oracle, kmx mounts through withTestMount,
// a sample tree with every kind of entry, and tree comparisons.

export const PASSWORD = 'test-pw';
export const EXTPASS = `echo ${PASSWORD}`;

/** `kmx enc init` with a fast KDF (N = 2^10) and the test password. */
export function kmxInit(args: readonly string[]): Promise<RunResult> {
  return runKmx(['enc', 'init', '--scryptn', '10', '--extpass', EXTPASS, ...args]);
}

export async function mustKmxInit(args: readonly string[]): Promise<void> {
  const r = await kmxInit(args);
  assert.equal(r.code, 0, `kmx enc init ${args.join(' ')}: ${r.stderr}`);
}

/** `gocryptfs -init` with a fast KDF and the test password. */
export async function gocryptfsInit(dir: string, extra: readonly string[] = []): Promise<void> {
  const r = await run('gocryptfs', ['-init', '-q', '-scryptn', '10', '-extpass', EXTPASS, ...extra, dir]);
  assert.equal(r.code, 0, `gocryptfs -init: ${r.stderr}`);
}

/**
 * `gocryptfs -fsck`: its exit code and output. It makes a scratch mountpoint in $TMPDIR and
 * leaves it there, so it gets the test's own directory (removed with the test) as $TMPDIR.
 */
export function gocryptfsFsck(dir: string, password: readonly string[] = ['-extpass', EXTPASS]): Promise<RunResult> {
  return run('gocryptfs', ['-fsck', ...password, dir], { env: { ...process.env, TMPDIR: dirname(dir) } });
}

/**
 * Runs real gocryptfs in the foreground as a child serving `mnt`, and always unmounts it and
 * waits for it to exit (a daemonised gocryptfs would be reparented and reaped late). It runs
 * with -q (not when `verbose`) and the test password (not with -masterkey); `body` may read
 * what it printed so far.
 */
export async function withGocryptfs<T>(dir: string, mnt: string, flags: readonly string[], body: (output: () => string) => Promise<T>, options: { verbose?: boolean } = {}): Promise<T> {
  const password = flags.some((f) => f.startsWith('-masterkey')) ? [] : ['-extpass', EXTPASS];
  const child = spawn('gocryptfs', ['-fg', ...(options.verbose ? [] : ['-q']), ...password, ...flags, dir, mnt], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (let i = 0; !(await mountsUnder(mnt)).includes(mnt); i++) {
      if (child.exitCode !== null) throw new Error(`gocryptfs exited (${child.exitCode}) before mounting: ${output}`);
      if (i > 500) throw new Error(`gocryptfs did not mount ${mnt}: ${output}`);
      await sleep(20);
    }
    return await body(() => output);
  } finally {
    if ((await mountsUnder(mnt)).includes(mnt)) await run('fusermount3', ['-u', '-z', mnt]);
    if (child.exitCode === null) {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }
}

/** A kmx enc mount of `args` (after 'enc mount --extpass …') for the duration of `body`. */
export function withEnc<T>(options: Omit<TestMountOptions, 'args'> & { args: (paths: { dir: string; mnt: string }) => string[] }, body: (m: TestMount) => Promise<T>): Promise<T> {
  return withTestMount({ ...options, args: (paths) => ['enc', 'mount', '--extpass', EXTPASS, ...options.args(paths)] }, body);
}

/** The master key in `init` output (kmx's or gocryptfs's, colours and CRs removed), as one dashed line. */
export function printedMasterKey(output: string): string {
  const plain = output.replace(/\r/g, '').replaceAll('\u001b', '').replace(/\[[0-9;]*m/g, ''); // gocryptfs colours a terminal
  const match = /^Your master key is:\n\n {4}((?:[0-9a-f]{8}-){4})\n {4}((?:[0-9a-f]{8}-){3}[0-9a-f]{8})\n/m.exec(plain);
  assert.ok(match, `no master key in:\n${plain}`);
  return match[1]! + match[2]!;
}

/** `gocryptfs -init` on a terminal (it shows the master key only there): its master key. */
export async function gocryptfsInitWithKey(dir: string): Promise<string> {
  const r = await sh(`script -qec "gocryptfs -init -scryptn 10 -extpass '${EXTPASS}' '${dir}'" /dev/null < /dev/null`);
  assert.equal(r.code, 0, `gocryptfs -init: ${r.stdout}${r.stderr}`);
  return printedMasterKey(r.stdout);
}

/** Mounts `dir` with kmx (forward unless flags say otherwise) on `mnt` for `body`, in its own process. */
export async function withKmxMount<T>(flags: readonly string[], mnt: string, body: () => Promise<T>): Promise<T> {
  const r = await runKmx(['enc', 'mount', '--daemon', '--extpass', EXTPASS, ...flags, mnt]);
  assert.equal(r.code, 0, `kmx enc mount: ${r.stderr}`);
  try {
    return await body();
  } finally {
    await runKmx(['umount', mnt]);
  }
}

/**
 * Fills `dir` with one of everything: empty, one-byte, block-edge and multi-block random files,
 * a sparse file, nested directories, names long enough to be hashed (a file and a directory
 * with content), symlinks at depths 0–2 (relative, absolute, dangling), a hard link and an
 * extended attribute. Times are fixed so that copies compare equal.
 */
export async function sampleTree(dir: string, options: { xattrs?: boolean; fifo?: boolean } = {}): Promise<void> {
  const long = 'L'.repeat(200);
  const r = await sh(`set -e; cd '${dir}'
    : > empty; printf x > one; head -c 4095 /dev/urandom > b4095; head -c 4096 /dev/urandom > b4096
    head -c 4097 /dev/urandom > b4097; head -c 300000 /dev/urandom > r300k; truncate -s 100000 sparse
    mkdir -p d1/d2/d3 'with space' '${long}D'; echo deep > d1/d2/d3/f; echo top > d1/f; printf 'ü€' > 'with space/ünïcödé ☃'
    head -c 10000 /dev/urandom > '${long}D/inner'; echo long > '${long}'
    touch "$(printf 'N%.0s' $(seq 1 175))" "$(printf 'M%.0s' $(seq 1 176))"
    ln -s one link0; ln -s ../one d1/link1; ln -s ../../b4096 d1/d2/link2; ln -s /etc/hostname abslink; ln -s nowhere dangling
    ln -s '${long}' longlink; ln b4095 hardlink; chmod 0600 b4097; chmod 0750 d1
    ${options.xattrs ? "setfattr -n user.comment -v 'some value' one; setfattr -n user.empty -v '' b4096" : ':'}
    ${options.fifo ? 'mkfifo fifo' : ':'}
    find . -exec touch -h -d '2020-01-02 03:04:05.123456789' {} +`);
  assert.equal(r.code, 0, r.stderr);
}

/** Every entry of a tree as "type mode size nlink path -> target", sorted: what two views must agree on. */
export async function listing(dir: string, options: { nlink?: boolean; times?: boolean } = {}): Promise<string> {
  const fields = `%y %m %s${options.nlink === false ? '' : ' %n'}${options.times ? ' %T@' : ''} %p -> %l`;
  const r = await sh(`cd '${dir}' && find . -mindepth 1 -printf '${fields}\\n' | LC_ALL=C sort`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** diff -r without following symlinks; '' when equal. */
export async function diffTrees(a: string, b: string, excludes: readonly string[] = []): Promise<string> {
  const r = await run('diff', ['-r', '--no-dereference', ...excludes.map((e) => `--exclude=${e}`), a, b]);
  return r.code === 0 ? '' : `${r.stdout}${r.stderr}`;
}

/** A fingerprint of everything in a directory (names, sizes, modes, contents, link targets). */
export async function fingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (path: string): Promise<void> => {
    for (const name of (await readdir(path)).sort()) {
      const full = join(path, name);
      const st = await lstat(full);
      hash.update(`${full.slice(dir.length)} ${st.mode} ${st.size} ${st.mtimeMs}\n`);
      if (st.isDirectory()) await walk(full);
      else if (st.isSymbolicLink()) hash.update(await readlink(full));
      else if (st.isFile()) hash.update(await readFile(full));
    }
  };
  await walk(dir);
  return hash.digest('hex');
}

