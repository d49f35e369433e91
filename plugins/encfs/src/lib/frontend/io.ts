import * as fs from 'node:fs';

/** pread until `length` bytes or end of file; resolves to the bytes read (a fresh buffer). */
export function readAt(fd: number, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = (): void => {
      fs.read(fd, buffer, done, length - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (n === 0 || done === length) return resolve(buffer.subarray(0, done));
        return next();
      });
    };
    if (length === 0) resolve(buffer);
    else next();
  });
}

/** pwrite all of `data`. */
export function writeAt(fd: number, data: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = (): void => {
      fs.write(fd, data, done, data.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (done === data.length) return resolve();
        return next();
      });
    };
    if (data.length === 0) resolve();
    else next();
  });
}

export function truncateFd(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve())));
}
