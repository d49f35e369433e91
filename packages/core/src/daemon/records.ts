import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

// kmxd's registry: every mount it made, for whom, and the mount id it got. Requests name an
// entry by id; an unmount goes ahead only for the entry's own uid and only onto that mount id.

export interface MountRecord {
  id: string;
  uid: number;
  user: string;
  name: string;
  kind: 'nfs' | 'smb' | 'tmpfs';
  source: string;
  path: string;
  /** statx STATX_MNT_ID of the mount, as a decimal string (64-bit). */
  mountId: string;
  options: string;
  /** Relative to the user's home, as requested; '' for none. */
  link: string;
  /** Absolute path of the link as created. */
  linkPath: string;
  createdAt: string;
  /** A tmpfs's size in MiB (it counts against its user's budget). */
  sizeMib?: number;
}

export class MountRecords {
  private readonly records = new Map<string, MountRecord>();
  private readonly file: string;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.file = join(stateDir, 'mounts.json');
    try {
      for (const record of JSON.parse(readFileSync(this.file, 'utf8')) as MountRecord[]) this.records.set(record.id, record);
    } catch {
      // no registry yet (or a torn one from a crash): start empty
    }
  }

  static newId(): string {
    return randomBytes(8).toString('hex');
  }

  get(id: string): MountRecord | undefined {
    return this.records.get(id);
  }

  ofUser(uid: number): MountRecord[] {
    return [...this.records.values()].filter((r) => r.uid === uid).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  all(): MountRecord[] {
    return [...this.records.values()];
  }

  add(record: MountRecord): void {
    this.records.set(record.id, record);
    this.save();
  }

  remove(id: string): void {
    this.records.delete(id);
    this.save();
  }

  private save(): void {
    const tmp = `${this.file}.${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(this.all(), null, 1)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
