import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, stopChild, type TestUser } from '@kmx/core/testing';

// Runs a real kmxd (its bin, as root, on a socket in a test directory) and clients as test users.

export const kmxdBin = fileURLToPath(new URL('../../bin/kmxd.js', import.meta.url));
const clientFixture = fileURLToPath(new URL('./fixtures/kmxd-client.js', import.meta.url));

export interface TestDaemon {
  socket: string;
  media: string;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

export async function startDaemon(dir: string, extra: readonly string[] = []): Promise<TestDaemon> {
  chmodSync(dir, 0o755); // test users reach the socket and the media dir through it
  const socket = join(dir, 'kmxd.sock');
  const media = join(dir, 'media');
  const child = spawn(process.execPath, [kmxdBin, '--socket', socket, '--state-dir', join(dir, 'state'), '--media-dir', media, '--log-level', 'debug', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const stop = (): Promise<void> => stopChild(child);
  const deadline = Date.now() + 15_000;
  while (!log.includes('listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`kmxd did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { socket, media, process: child, log: () => log, stop };
}

export async function withDaemon<T>(dir: string, body: (d: TestDaemon) => Promise<T>, extra: readonly string[] = []): Promise<T> {
  const daemon = await startDaemon(dir, extra);
  try {
    return await body(daemon);
  } finally {
    await daemon.stop();
  }
}

export interface Answer {
  id?: number;
  kind: string;
  value: Record<string, unknown> & { errno?: string; message?: string; mount?: { id: string; path: string; link?: string }; mounts?: Array<{ id: string; name: string }> };
}

async function client(user: TestUser | undefined, args: string[]): Promise<Answer[]> {
  const r = await run(process.execPath, [clientFixture, ...args], { timeoutMs: 120_000, ...(user ? { uid: user.uid, gid: user.gid } : {}) });
  if (r.code !== 0) throw new Error(`kmxd client failed (${r.code ?? r.signal}): ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Answer);
}

/** Sends requests as `user` over one connection; the answers in order. */
export function ask(user: TestUser | undefined, socket: string, ...requests: object[]): Promise<Answer[]> {
  return client(user, ['requests', socket, JSON.stringify(requests)]);
}

export async function askOne(user: TestUser | undefined, socket: string, request: object): Promise<Answer> {
  const [answer] = await ask(user, socket, request);
  if (!answer) throw new Error('no answer');
  return answer;
}

export function sendRaw(user: TestUser | undefined, socket: string, hex: string): Promise<Answer[]> {
  return client(user, ['raw', socket, hex]);
}

export async function concurrent(user: TestUser, socket: string, n: number): Promise<{ ok: number; errors: string[] }> {
  const r = await run(process.execPath, [clientFixture, 'concurrent', socket, String(n)], { timeoutMs: 120_000, uid: user.uid, gid: user.gid });
  return JSON.parse(r.stdout) as { ok: number; errors: string[] };
}
