import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { libc } from '@kmx/core';

/**
 * Real namespace hierarchies for the tests, made with util-linux's unshare (and a python
 * thread): every process is a child of the test, killed by pid; every bind mount lives in the
 * lab's temporary directory and is unmounted. cleanUp() undoes everything, whatever failed.
 */
export class NamespaceLab {
  readonly dir: string;
  private readonly children: ChildProcess[] = [];
  private readonly mounts: string[] = [];

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'kmx-test-'));
  }

  /** Spawns `command`; resolves with its pid once `ready(pid)` holds (polled, bounded). */
  async start(command: string, args: readonly string[], ready: (pid: number) => boolean, options: SpawnOptions = {}): Promise<number> {
    const child = spawn(command, args, { stdio: 'ignore', ...options });
    this.children.push(child);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${command} did not start`);
    for (let tries = 0; tries < 1000; tries++) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${command} ${args.join(' ')} exited early (${child.exitCode ?? child.signalCode})`);
      try {
        if (ready(pid)) return pid;
      } catch {
        // not there yet
      }
      await sleep(10);
    }
    throw new Error(`${command} ${args.join(' ')} did not get ready`);
  }

  /** Runs a command to completion, failing on a non-zero exit; resolves with its stdout. */
  async exec(command: string, args: readonly string[]): Promise<string> {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
    if (code !== 0) throw new Error(`${command} ${args.join(' ')}: ${code ?? signal} ${stderr}`);
    return stdout;
  }

  /** A directory bind-mounted onto itself and made private: nsfs binds of mount namespaces need it. */
  privateDirectory(name: string): string {
    const path = join(this.dir, name);
    mkdirSync(path);
    libc.mount(path, path, null, libc.MS_BIND);
    this.mounts.push(path);
    libc.mount(null, path, null, libc.MS_PRIVATE);
    return path;
  }

  /** An empty file to bind a namespace onto; unmounted at clean-up (before its directory). */
  bindTarget(dir: string, name: string): string {
    const path = join(dir, name);
    writeFileSync(path, '');
    this.mounts.push(path);
    return path;
  }

  /** An fd the test holds open until `closeFd`, e.g. to pass to a child as its fd 3. */
  openFd(path: string): number {
    return openSync(path, 'r');
  }

  closeFd(fd: number): void {
    closeSync(fd);
  }

  async kill(pid: number): Promise<void> {
    const child = this.children.find((c) => c.pid === pid);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }

  async cleanUp(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
    for (const path of this.mounts.reverse()) {
      try {
        libc.umount2(path, libc.MNT_DETACH);
      } catch {
        // never mounted (its step failed)
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
export const nsLink = (pid: number | 'self', link: string): string => readlinkSync(`/proc/${pid}/ns/${link}`);
export const taskNsLink = (pid: number, tid: number, type: string): string => readlinkSync(`/proc/${pid}/task/${tid}/ns/${type}`);
/** The inode of a namespace link: `/proc/PID/ns/TYPE` → 4026532177. */
export const inodeOf = (pid: number | 'self', link: string): number => Number(/\[(\d+)\]/.exec(nsLink(pid, link))?.[1]);
export const childrenOf = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
/** The thread ids of a process. */
export const tasksOf = (pid: number): number[] => readdirSync(`/proc/${pid}/task`).map(Number);
