import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { temporaryDirectory } from '@kmx/core/testing';
import { startGanesha, type Ganesha } from '../src/lib/peer/ganesha.js';

/** Runs `body` with nfs-ganesha serving `dir/export` on loopback; stopped by pid afterwards. */
export function withGanesha<T>(body: (g: Ganesha, dir: string) => Promise<T>, options: { v3?: boolean } = {}): Promise<T> {
  return temporaryDirectory(async (dir) => {
    const exportDir = join(dir, 'export');
    await mkdir(exportDir);
    const g = await startGanesha({ dir: join(dir, 'ganesha'), exportDir, ...options });
    try {
      return await body(g, dir);
    } finally {
      // A test may have stopped it; it may also be gone already (a cleanup error must not hide the test's own).
      try {
        process.kill(g.pid, 'SIGCONT');
      } catch {
        // exited: say so (with its log's last lines) and let g.stop() reap it
        process.stderr.write(`# ganesha (pid ${g.pid}) had exited before cleanup: ${(await g.log()).split('\n').slice(-4).join(' | ')}\n`);
      }
      await g.stop();
    }
  });
}

/** kmx's arguments for a user-space mount of the ganesha export at `mnt`, in the foreground. */
export function userspaceArgs(g: Ganesha, mnt: string, version: '3' | '4', extra: string[] = []): string[] {
  return ['nfs', 'mount', `127.0.0.1:${g.exportPath}`, `t${version}`, '--userspace', '--foreground', '--vers', version, '--port', String(g.nfsPort), '--mount-port', String(g.mountPort), '--mountpoint', mnt, ...extra];
}
