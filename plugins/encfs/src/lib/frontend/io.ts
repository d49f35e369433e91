import * as fs from 'node:fs';

// Small transfers are done synchronously: on a local disk a pread/pwrite of a few blocks takes
// microseconds, less than a round trip through libuv's thread pool (which under load costs a
// thread wakeup and an event-loop turn). Large transfers go to the crypto workers instead.

/** pread until `length` bytes or end of file; a fresh buffer of the bytes read. */
export function readAt(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

/** pwrite all of `data`. */
export function writeAt(fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length;) done += fs.writeSync(fd, data, done, data.length - done, position + done);
}

export function truncateFd(fd: number, length: number): void {
  fs.ftruncateSync(fd, length);
}
