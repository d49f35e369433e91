/** What an inode number in the reverse view stands for. */
export const InoKind = { real: 0, dirIv: 1, longName: 2 } as const;
export type InoKindValue = (typeof InoKind)[keyof typeof InoKind];

const TAG_SHIFT = 2 ** 48;
const KINDS = 3;
const MAX_DEVICES = 8;
/** Numbers for inodes the tagged layout cannot hold: above every tagged range, below 2^53. */
const SPILL_BASE = MAX_DEVICES * KINDS * TAG_SHIFT;
/** Entries that exist only in the view (a multi-source root and its diriv) get these. */
const RESERVED = 16;

/**
 * Stable, unique inode numbers for the reverse view, so backup tools that remember inodes
 * (borg, restic, rsync -H) see the same file as the same file across mounts. Real entries of
 * the first device keep their number, a directory's virtual diriv gets its number + 2^48 and
 * a long name's .name file the entry's number + 2·2^48 (what gocryptfs shows). Further devices
 * (other sources, mounts inside a source) get their own tag ranges, in the order they were
 * registered; numbers too large for that are handed out from a spill map.
 */
export class InoMap {
  private readonly devices: bigint[] = [];
  private readonly spill = new Map<string, number>();

  /** Registers devices in a fixed order (the sources'), so their tags do not depend on access order. */
  register(dev: bigint): void {
    if (!this.devices.includes(dev)) this.devices.push(dev);
  }

  /** The number of an entry with no plaintext counterpart (0: a multi-source root, 1: its diriv). */
  virtual(index: number): number {
    return SPILL_BASE + index;
  }

  map(dev: bigint, ino: bigint, kind: InoKindValue): number {
    let index = this.devices.indexOf(dev);
    if (index < 0 && this.devices.length < MAX_DEVICES) {
      this.devices.push(dev);
      index = this.devices.length - 1;
    }
    if (index >= 0 && ino < BigInt(TAG_SHIFT)) return (index * KINDS + kind) * TAG_SHIFT + Number(ino);
    const key = `${dev}:${ino}:${kind}`;
    let number = this.spill.get(key);
    if (number === undefined) {
      number = SPILL_BASE + RESERVED + this.spill.size;
      this.spill.set(key, number);
    }
    return number;
  }
}
