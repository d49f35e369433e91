import * as fs from 'node:fs';

/**
 * Up to `length` bytes of an open /proc file from `offset`, read as cat reads (until a read
 * returns 0: /proc files have no size), in growing chunks, and whether the file ended there.
 */
export function readFdRange(fd: number, offset: number, length: number): { data: Buffer; eof: boolean } {
  const chunks: Buffer[] = [];
  let done = 0;
  let size = Math.min(length + 1, 16384);
  while (done <= length) {
    const chunk = Buffer.allocUnsafe(size);
    const n = fs.readSync(fd, chunk, 0, chunk.length, offset + done);
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    done += n;
    size = Math.min(length + 1 - done, size * 2, 1 << 20);
    if (size <= 0) break;
  }
  const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, done);
  return { data: data.subarray(0, Math.min(done, length)), eof: done <= length };
}
