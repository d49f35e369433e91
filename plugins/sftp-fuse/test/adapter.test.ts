// Guards the adapter that runs ssh2's SFTP class over raw byte streams: it relies on ssh2
// internals, so an ssh2 upgrade that changes them must fail here, loudly, not in a mount.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { describe, it } from 'node:test';
import { rejectsSysError } from '@kmx/core/testing';
import { SSH2_VERSION, sftpOverStream, ssh2Sftp } from '../src/lib/protocol/adapter.js';
import { SftpSession } from '../src/lib/protocol/session.js';
import { SFTP_SERVER } from './support.js';

const require = createRequire(import.meta.url);

function ready(session: { sftp: { once(event: string, f: () => void): unknown } }): Promise<void> {
  return new Promise((resolve) => session.sftp.once('ready', () => resolve()));
}

describe('ssh2 SFTP adapter', () => {
  it('runs against the exact ssh2 version it was written for, pinned in package.json', () => {
    const installed = (require('ssh2/package.json') as { version: string }).version;
    const pinned = (require('../../package.json') as { dependencies: Record<string, string> }).dependencies.ssh2;
    assert.equal(installed, SSH2_VERSION, `ssh2 ${installed} is installed; the adapter knows ${SSH2_VERSION}: re-check src/lib/protocol/adapter.ts`);
    assert.equal(pinned, SSH2_VERSION, 'ssh2 must be pinned to an exact version');
  });

  it('finds every internal member it uses on ssh2\'s SFTP class', () => {
    assert.doesNotThrow(() => ssh2Sftp());
    const { SFTP } = ssh2Sftp();
    for (const method of ['push', '_init', 'open', 'read', 'write', 'lstat', 'readdir', 'ext_openssh_rename', 'ext_openssh_hardlink', 'ext_openssh_fsync', 'ext_openssh_statvfs', 'ext_openssh_lsetstat', 'status', 'handle', 'data', 'name', 'attrs']) {
      assert.equal(typeof (SFTP.prototype as unknown as Record<string, unknown>)[method], 'function', `ssh2's SFTP lost ${method}()`);
    }
  });

  it('carries a client and a server of ssh2 over a pair of plain streams', async () => {
    const up = new PassThrough();
    const down = new PassThrough();
    const server = sftpOverStream(up, down, { server: true, extensions: { 'posix-rename@openssh.com': '1' } });
    server.sftp.on('LSTAT', (id: number, path: string) => server.sftp.attrs(id, { mode: 0o100644, uid: 1, gid: 2, size: path.length, atime: 3, mtime: 4 }));
    const client = sftpOverStream(down, up);
    await ready(client);
    const session = new SftpSession(client.sftp, () => up.end());
    assert.ok(session.hasExtension('posix-rename@openssh.com'), 'the VERSION packet carries the server\'s extensions');
    const st = await session.lstat('/twelve chars');
    assert.deepEqual([st.mode, st.uid, st.gid, st.size, st.mtime], [0o100644, 1, 2, 13, 4]);
    session.close();
    await assert.rejects(session.lstat('/x'), { code: 'EIO' }, 'a closed session fails every request with EIO');
  });

  it('talks to OpenSSH\'s sftp-server over its stdin/stdout', async () => {
    const child = spawn(SFTP_SERVER, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    try {
      const client = sftpOverStream(child.stdout, child.stdin);
      await ready(client);
      const session = new SftpSession(client.sftp, () => child.stdin.end());
      assert.ok(session.maxRead > 200_000, `limits@openssh.com raised the read size (${session.maxRead})`);
      assert.ok(session.hasExtension('posix-rename@openssh.com'));
      assert.equal((await session.stat('/')).mode! & 0o170000, 0o040000);
      await assert.rejects(session.lstat('/no/such/file'), { code: 'ENOENT' });
      const names = (await session.readdir('/')).map((e) => e.name);
      assert.ok(names.includes('etc'));
      session.close();
    } finally {
      child.kill();
    }
  });

  it('routes READ replies into the caller\'s buffers however the stream is cut, writes without copies, and the rest to ssh2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kmx-router-'));
    const content = randomBytes(3 * 1024 * 1024 + 12_345);
    await writeFile(join(dir, 'data'), content);
    await writeFile(join(dir, 'empty'), '');
    const child = spawn(SFTP_SERVER, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    // Cut what the server says into pieces of 1 byte to 70 KB (a fixed sequence), so that
    // packet heads, data and the packets after them are split at every kind of place.
    let seed = 7;
    const cuts = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        for (let p = 0; p < chunk.length;) {
          seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
          const n = seed % 5 === 0 ? 1 + (seed % 13) : 1 + (seed % 70_000);
          this.push(chunk.subarray(p, p + n));
          p += n;
        }
        done();
      },
    });
    child.stdout.pipe(cuts);
    try {
      const client = sftpOverStream(cuts, child.stdin);
      await ready(client);
      const session = new SftpSession(client.sftp, () => child.stdin.end());
      const path = join(dir, 'data');
      const handle = await session.open(path, 0x1);
      const reads = [[0, 1], [1, 13], [100, 4096], [5000, 131_072], [262_144, session.maxRead], [content.length - 10, 4096], [content.length + 1, 100]] as const;
      // In parallel, with other requests between them: replies of every kind interleave.
      const results = await Promise.all(reads.map(async ([position, length], i) => {
        const buffer = Buffer.alloc(length, 0xee);
        const [n] = await Promise.all([session.read(handle, buffer, position, path), i % 2 ? session.stat(path) : session.readdir(dir)]);
        return { position, length, n, buffer };
      }));
      for (const { position, length, n, buffer } of results) {
        const want = content.subarray(Math.min(position, content.length), Math.min(position + length, content.length));
        assert.equal(n, want.length, `read of ${length} at ${position}`);
        assert.ok(buffer.subarray(0, n).equals(want), `data of the read of ${length} at ${position}`);
      }
      const whole = Buffer.alloc(content.length);
      assert.equal(await session.read(handle, whole, 0, path), content.length);
      assert.ok(whole.equals(content), 'a read larger than the server\'s limit, in parallel parts');
      await session.closeHandle(handle, path);
      const empty = await session.open(join(dir, 'empty'), 0x1);
      assert.equal(await session.read(empty, Buffer.alloc(10), 0, path), 0, 'end of file is a STATUS reply, not DATA');
      // sftp-server refuses an unknown handle with a bare FAILURE: EIO, as a refusal (not a lost connection).
      const badRead = await rejectsSysError(session.read(Buffer.from('no such handle'), Buffer.alloc(10), 0, path), { code: 'EIO', errno: 5, syscall: 'read', path });
      assert.equal(badRead.name, 'SysError');
      // Writes go out in place (head and data as two pieces), several per call beyond the server's limit.
      const copyPath = join(dir, 'copy');
      const out = await session.open(copyPath, 0x2 | 0x8 | 0x10);
      await Promise.all([session.write(out, content.subarray(0, 1_000_000), 0, copyPath), session.write(out, content.subarray(1_000_000), 1_000_000, copyPath), session.stat(path)]);
      await session.closeHandle(out, copyPath);
      assert.ok((await readFile(copyPath)).equals(content), 'what was written is on the server, byte for byte');
      const badWrite = await rejectsSysError(session.write(Buffer.from('no such handle'), Buffer.alloc(10), 0, copyPath), { code: 'EIO', errno: 5, syscall: 'write', path: copyPath });
      assert.equal(badWrite.name, 'SysError');
      session.close();
      await assert.rejects(session.write(out, Buffer.alloc(10), 0, copyPath), { code: 'EIO' }, 'a closed session fails writes with EIO');
    } finally {
      child.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

