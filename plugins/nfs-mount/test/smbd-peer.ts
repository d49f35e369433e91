import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, temporaryDirectory, withTestUsers, type TestUser } from '@kmx/core/testing';
import { startSmbd, type Smbd } from '../src/lib/peer/smbd.js';

/** smbd on loopback serving a scratch share as a test user; a test may also kill and restart it. */
export interface SmbdPeer {
  readonly port: number;
  readonly shareDir: string;
  readonly user: TestUser;
  readonly password: string;
  /** smbstatus's table of sessions: user, protocol version and so on. */
  sessions(): Promise<string>;
  /** SIGKILL to smbd and its connections: the server is gone. */
  kill(): Promise<void>;
  /** Starts smbd again on the same port, share and account. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT to smbd's process group: a server that stops answering without closing anything. */
  pause(): void;
  resume(): void;
}

/**
 * Runs `body` with smbd serving `dir/share` (owned by a fresh test user with an smbpasswd
 * entry) on 127.0.0.1 on a free port; smbd, the user and the directory are gone afterwards.
 */
export function withSmbd<T>(body: (peer: SmbdPeer, dir: string) => Promise<T>, options: { password?: string; minProtocol?: string; maxProtocol?: string } = {}): Promise<T> {
  return withTestUsers(1, ([user]) => temporaryDirectory(async (dir) => {
    await chmod(dir, 0o711); // smbd serves the share as the user, who must reach it
    const shareDir = join(dir, 'share');
    await mkdir(shareDir);
    await chown(shareDir, user!.uid, user!.gid);
    const password = options.password ?? `pw-${randomBytes(6).toString('hex')}`;
    const start = (port?: number): Promise<Smbd> => startSmbd({
      dir: join(dir, 'smbd'), shareDir, user: user!.name, password, ...(port ? { port } : {}),
      ...(options.minProtocol ? { minProtocol: options.minProtocol } : {}), ...(options.maxProtocol ? { maxProtocol: options.maxProtocol } : {}),
    });
    let current = await start();
    let running = true;
    const peer: SmbdPeer = {
      get port() { return current.port; },
      shareDir, user: user!, password,
      sessions: async () => (await run('smbstatus', ['-s', current.conf, '-b'], { timeoutMs: 30_000 })).stdout,
      async kill() {
        await current.kill();
        running = false;
      },
      async restart() {
        current = await start(current.port);
        running = true;
      },
      pause() {
        process.kill(-current.pid, 'SIGSTOP');
      },
      resume() {
        process.kill(-current.pid, 'SIGCONT');
      },
    };
    try {
      return await body(peer, dir);
    } finally {
      if (running) {
        try {
          process.kill(-current.pid, 'SIGCONT'); // a test may have left it paused
        } catch {
          // gone already
        }
        await current.stop();
      }
    }
  }));
}

let mounts = 0;

/** A mount name of this test process's own (records are per user, and test files run side by side). */
export function smbName(prefix = 'smb'): string {
  return `${prefix}-${process.pid}-${++mounts}`;
}

/** kmx's arguments for a user-space mount of the peer's share at `mnt`, in the foreground (password from PASSWD). */
export function smbArgs(peer: SmbdPeer, mnt: string, extra: string[] = []): string[] {
  return ['smb', 'mount', '//127.0.0.1/share', smbName(), '--foreground', '--port', String(peer.port), '--user', peer.user.name, '--mountpoint', mnt, '--timeout', '3', ...extra];
}
