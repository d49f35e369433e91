import { mkdir, readdir, readFile, rename, rm, writeFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';

/** What kmx remembers about a FUSE mount it serves: mountinfo has no pid, engine or log. */
export interface MountRecord {
  /** 'major:minor' of the FUSE connection; the key that joins a record to mountinfo. */
  device: string;
  mountpoint: string;
  plugin: string;
  source: string;
  pid: number;
  engine: string;
  startedAt: string;
  log?: string;
  /** The serving plugin's own word on the mount ("connected", "reconnecting: …"), if it keeps one. */
  status?: string;
}

const uid = (): number => process.getuid?.() ?? 0;

/** Where this user's kmx keeps runtime state: /run/kmx for root, else $XDG_RUNTIME_DIR/kmx. */
export function runtimeDir(): string {
  if (uid() === 0) return '/run/kmx';
  const xdg = process.env.XDG_RUNTIME_DIR;
  return xdg ? join(xdg, 'kmx') : `/tmp/kmx-${uid()}`;
}

/** The directory for `kind` ('mounts', 'logs') under the runtime dir, created private to its owner. */
export async function runtimeSubdir(kind: string): Promise<string> {
  const base = runtimeDir();
  await mkdir(base, { recursive: true, mode: uid() === 0 ? 0o755 : 0o700 });
  const info = await lstat(base);
  // /tmp is shared: refuse a directory someone else planted there.
  if (!info.isDirectory() || info.uid !== uid()) throw new Error(`${base} is not a directory owned by uid ${uid()}`);
  const dir = join(base, kind);
  await mkdir(dir, { recursive: true, mode: uid() === 0 ? 0o755 : 0o700 });
  return dir;
}

/**
 * A record's file is named for its device and its server: device numbers are reused at once,
 * and a record must be removed only by (or for) the server that wrote it, never a newer one's.
 */
const fileName = (record: Pick<MountRecord, 'device' | 'pid'>): string => `${record.device.replace(':', '-')}-${record.pid}.json`;

export async function writeMountRecord(record: MountRecord): Promise<void> {
  const dir = await runtimeSubdir('mounts');
  const tmp = join(dir, `.${fileName(record)}.${process.pid}`);
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, join(dir, fileName(record)));
}

/**
 * Sets the status of the mounts this process serves on `mountpoint` (a plugin calls it when
 * its state changes: a network filesystem reconnecting, say). Resolves to whether a record was
 * found (it is written only once the mount answers).
 */
export async function setMountStatus(mountpoint: string, status: string): Promise<boolean> {
  let found = false;
  const dir = join(runtimeDir(), 'mounts');
  for (const name of await readdir(dir).catch(() => [])) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    let record: MountRecord;
    try {
      record = JSON.parse(text) as MountRecord;
    } catch {
      continue;
    }
    if (record.pid === process.pid && record.mountpoint === mountpoint) {
      await writeMountRecord({ ...record, status });
      found = true;
    }
  }
  return found;
}

export async function removeMountRecord(record: Pick<MountRecord, 'device' | 'pid'>): Promise<void> {
  await rm(join(runtimeDir(), 'mounts', fileName(record)), { force: true });
}

/** Every record this user can read: their own, and root's (/run/kmx) for everyone; root also reads users'. */
export async function readMountRecords(): Promise<MountRecord[]> {
  const dirs = new Set([join(runtimeDir(), 'mounts'), '/run/kmx/mounts']);
  if (uid() === 0) {
    for (const user of await readdir('/run/user').catch(() => [])) dirs.add(join('/run/user', user, 'kmx', 'mounts'));
  }
  const records: MountRecord[] = [];
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [])) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const text = await readFile(join(dir, name), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      try {
        records.push(JSON.parse(text) as MountRecord);
      } catch {
        // a torn or foreign file: not a record
      }
    }
  }
  return records;
}
