import { readFile } from 'node:fs/promises';

/** One line of /proc/PID/mountinfo. */
export interface MountInfo {
  mountId: number;
  parentId: number;
  /** 'major:minor' of the mounted filesystem; for FUSE, unique per live connection. */
  device: string;
  root: string;
  mountpoint: string;
  mountOptions: string;
  fstype: string;
  source: string;
  superOptions: string;
}

/** The kernel escapes space, tab, newline and backslash in paths as \ooo octal. */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 4) continue;
    mounts.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2] ?? '',
      root: unescapeMountinfo(fields[3] ?? ''),
      mountpoint: unescapeMountinfo(fields[4] ?? ''),
      mountOptions: fields[5] ?? '',
      fstype: unescapeMountinfo(fields[separator + 1] ?? ''),
      source: unescapeMountinfo(fields[separator + 2] ?? ''),
      superOptions: fields[separator + 3] ?? '',
    });
  }
  return mounts;
}

/** The mount table as process `pid` sees it (its mount namespace). */
export async function readMountinfo(pid: number | 'self' = 'self'): Promise<MountInfo[]> {
  return parseMountinfo(await readFile(`/proc/${pid}/mountinfo`, 'utf8'));
}

/** The topmost mount at exactly `mountpoint`, if any. */
export function mountAt(mounts: readonly MountInfo[], mountpoint: string): MountInfo | undefined {
  let found: MountInfo | undefined;
  for (const m of mounts) if (m.mountpoint === mountpoint) found = m; // later lines are mounted on top
  return found;
}

/** 'major:minor' of a dev_t as Node's fs.stat reports it (glibc's encoding). */
export function deviceString(dev: number | bigint): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}
