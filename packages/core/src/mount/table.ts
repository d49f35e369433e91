import { execFile } from 'node:child_process';
import { readMountinfo } from './mountinfo.js';
import { readMountRecords, removeMountRecord, type MountRecord } from './registry.js';
import { kmxPluginOf } from './unmount.js';

export type MountState = 'ok' | 'stale' | 'unresponsive';

/** One kmx mount as `kmx mounts` shows it. */
export interface KmxMount {
  mountpoint: string;
  source: string;
  plugin: string;
  fstype: string;
  device: string;
  mountId: number;
  /** The serving process, when its record is readable; null otherwise. */
  pid: number | null;
  engine: string | null;
  state: MountState;
  log: string | null;
  /** What the serving plugin says about the mount (e.g. kmx sftp's connection state), when it says anything. */
  status: string | null;
}

const PROBE_TIMEOUT_MS = 2000;

/**
 * Whether a mount answers. The probe runs in a child process: a stat in this process that a
 * hung server never answers would pin Node's event loop (and this command) forever.
 */
export function probeMount(mountpoint: string): Promise<MountState> {
  return new Promise((resolve) => {
    execFile('stat', ['--format=%d', '--', mountpoint], { timeout: PROBE_TIMEOUT_MS, killSignal: 'SIGKILL', env: { LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, _stdout, stderr) => {
        if (!err) resolve('ok');
        else if (stderr.trim().endsWith(': Transport endpoint is not connected')) resolve('stale'); // after the path, which may hold any words
        else if ((err as { killed?: boolean }).killed) resolve('unresponsive');
        else resolve('ok'); // EACCES and the like: the server answered
      });
  });
}

/** Whether a process exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** Every kmx FUSE mount in this mount namespace, joined with kmx's records. */
export async function listKmxMounts(): Promise<KmxMount[]> {
  const [mounts, records] = await Promise.all([readMountinfo(), readMountRecords()]);
  // A device number may have several records: a dead server's not yet forgotten, and the live one's.
  const recordOf = (m: { device: string; mountpoint: string }): MountRecord | undefined => {
    const candidates = records.filter((r) => r.device === m.device && r.mountpoint === m.mountpoint);
    return candidates.find((r) => processAlive(r.pid)) ?? candidates[0];
  };
  const live = new Set<string>();
  const result = await Promise.all(mounts.flatMap((m) => {
    const plugin = kmxPluginOf(m);
    if (!plugin) return [];
    live.add(`${m.device} ${m.mountpoint}`);
    const record = recordOf(m);
    return [probeMount(m.mountpoint).then((state): KmxMount => ({
      mountpoint: m.mountpoint,
      source: m.source,
      plugin,
      fstype: m.fstype,
      device: m.device,
      mountId: m.mountId,
      pid: record?.pid ?? null,
      engine: record?.engine ?? null,
      state,
      log: record?.log ?? null,
      status: record?.status ?? null,
    }))];
  }));
  // Records whose mount is gone belong to servers that died; forget the ones we can.
  await Promise.all(records.filter((r) => !live.has(`${r.device} ${r.mountpoint}`) && !processAlive(r.pid)).map((r) => removeMountRecord(r).catch(() => undefined)));
  return result;
}
