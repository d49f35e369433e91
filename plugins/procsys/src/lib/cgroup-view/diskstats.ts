import { readCgroupFile } from '../cgroup/read.js';
import type { CgroupDir } from '../cgroup/hierarchies.js';

/** The blkio statistics a cgroup's diskstats is made of (v1 with the CFQ/BFQ-era recursive files). */
const FILES = ['blkio.io_serviced_recursive', 'blkio.io_merged_recursive', 'blkio.io_service_bytes_recursive', 'blkio.io_wait_time_recursive', 'blkio.io_service_time_recursive'] as const;

/** "MAJ:MIN Op value" lines as a lookup. */
function table(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [device, op, value] = line.split(' ');
    if (device && op && value) values.set(`${device} ${op}`, Number(value));
  }
  return values;
}

/**
 * /proc/diskstats for the cgroup, as lxcfs makes it: from the blkio cgroup's recursive
 * statistics, one line per host device the cgroup did I/O on (reads, merges, sectors, ms
 * waiting and being served). Undefined when the cgroup has no such statistics (cgroup v2,
 * or v1 without them, as on this kernel): the reader then sees the host's file, as with lxcfs.
 */
export function cgroupDiskstats(hostText: string, blkio: CgroupDir): string | undefined {
  if (blkio.unified) return undefined;
  const texts = FILES.map((file) => readCgroupFile(blkio.dir, file));
  if (texts.some((t) => t === undefined)) return undefined;
  const [serviced, merged, bytes, wait, service] = texts.map((t) => table(t!)) as [Map<string, number>, Map<string, number>, Map<string, number>, Map<string, number>, Map<string, number>];
  const ms = (values: Map<string, number>, key: string): number => Math.floor((values.get(key) ?? 0) / 1_000_000);
  let out = '';
  for (const line of hostText.split('\n')) {
    const [major, minor, name] = line.trim().split(/\s+/);
    if (!major || !minor || !name) continue;
    const key = (op: string): string => `${major}:${minor} ${op}`;
    const get = (values: Map<string, number>, op: string): number => values.get(key(op)) ?? 0;
    const fields = [
      get(serviced, 'Read'), get(merged, 'Read'), Math.floor(get(bytes, 'Read') / 512), ms(service, key('Read')) + ms(wait, key('Read')),
      get(serviced, 'Write'), get(merged, 'Write'), Math.floor(get(bytes, 'Write') / 512), ms(service, key('Write')) + ms(wait, key('Write')),
      0, ms(service, key('Total')), 0,
      get(merged, 'Discard'), Math.floor(get(bytes, 'Discard') / 512), ms(service, key('Discard')) + ms(wait, key('Discard')),
    ];
    if (fields.every((v) => v === 0)) continue;
    out += `${major}       ${minor} ${name} ${fields.join(' ')}\n`;
  }
  return out;
}
