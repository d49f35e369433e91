import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { libc } from '@kmx/core';
import { temporaryDirectory } from '@kmx/core/testing';
import { startGanesha, type Ganesha } from '../src/lib/peer/ganesha.js';

/** A ganesha a test may also kill and start again on the same ports and export. */
export interface GaneshaPeer extends Ganesha {
  /** Sends `signal` (SIGKILL by default: a crash) to ganesha's pid and waits for its exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts ganesha again on the same ports, export and recovery directory. */
  restart(): Promise<void>;
}

/**
 * Runs `body` with nfs-ganesha serving `dir/export` on loopback; stopped by pid afterwards.
 * With `exportMib`, the export is a tmpfs of that size (a disk that fills); `leaseSeconds`
 * shortens its NFSv4 lease.
 */
export function withGanesha<T>(body: (g: GaneshaPeer, dir: string) => Promise<T>, options: { v3?: boolean; exportMib?: number; leaseSeconds?: number } = {}): Promise<T> {
  const { exportMib, ...ganeshaOptions } = options;
  return temporaryDirectory(async (dir) => {
    const exportDir = join(dir, 'export');
    await mkdir(exportDir);
    if (exportMib !== undefined) libc.mount('kmxtest', exportDir, 'tmpfs', libc.MS_NOSUID | libc.MS_NODEV, `size=${exportMib}m`);
    const start = (ports: { nfsPort?: number; mountPort?: number } = {}): Promise<Ganesha> => startGanesha({ dir: join(dir, 'ganesha'), exportDir, ...ganeshaOptions, ...ports });
    let current = await start();
    const peer: GaneshaPeer = {
      get exportPath() { return current.exportPath; },
      get exportDir() { return current.exportDir; },
      get nfsPort() { return current.nfsPort; },
      get mountPort() { return current.mountPort; },
      get pid() { return current.pid; },
      log: () => current.log(),
      stop: () => current.stop(),
      async kill(signal = 'SIGKILL') {
        try {
          process.kill(current.pid, signal);
        } catch {
          // gone already
        }
        await current.stop(); // reaps it (a SIGTERM to a process on its way out does nothing)
      },
      async restart() {
        current = await start({ nfsPort: current.nfsPort, mountPort: current.mountPort });
      },
    };
    try {
      return await body(peer, dir);
    } finally {
      // A test may have stopped it; it may also be gone already (a cleanup error must not hide the test's own).
      try {
        process.kill(current.pid, 'SIGCONT');
      } catch {
        // exited: say so (with its log's last lines) and let stop() reap it
        process.stderr.write(`# ganesha (pid ${current.pid}) had exited before cleanup: ${(await current.log()).split('\n').slice(-4).join(' | ')}\n`);
      }
      await current.stop();
    }
  });
}

let mounts = 0;

/** A mount name of this test process's own: records of user-space mounts are per user, and other test files run beside this one. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${++mounts}`;
}

/** kmx's arguments for a user-space mount of the ganesha export at `mnt`, in the foreground. */
export function userspaceArgs(g: Ganesha, mnt: string, version: '3' | '4', extra: string[] = [], name = uniqueName(`t${version}`)): string[] {
  return ['nfs', 'mount', `127.0.0.1:${g.exportPath}`, name, '--userspace', '--foreground', '--vers', version, '--port', String(g.nfsPort), '--mount-port', String(g.mountPort), '--mountpoint', mnt, ...extra];
}

/** The server's side of the mount options: --vers, --port, --mount-port. */
export function serverArgs(g: Ganesha, version: '3' | '4'): string[] {
  return ['--vers', version, '--port', String(g.nfsPort), '--mount-port', String(g.mountPort)];
}
