// Recycled SSH packet buffers (src/lib/ssh/packet-pool.ts): the layout must be ssh2's own,
// and data sent through recycled packets must arrive intact, across a rekey too.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { temporaryDirectory } from '@kmx/core/testing';
import ssh2 from 'ssh2';
import { gcmPacket, PacketPool, recycleOutgoingPackets } from '../src/lib/ssh/packet-pool.js';
import { startSshd } from '../src/testing/index.js';

const require = createRequire(import.meta.url);

interface Ssh2Crypto {
  bindingAvailable: boolean;
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>;
  createCipher(config: unknown): { constructor: { name: string }; allocPacket(payloadLen: number): Buffer };
}

describe('recycled SSH packets', () => {
  it('are laid out as ssh2\'s AES-GCM binding lays out its own', () => {
    const crypto = require('ssh2/lib/protocol/crypto.js') as Ssh2Crypto;
    assert.ok(crypto.bindingAvailable, 'ssh2\'s native crypto binding is built (without it, no AES-GCM binding to recycle for)');
    const info = crypto.CIPHER_INFO['aes128-gcm@openssh.com']!;
    const cipher = crypto.createCipher({ outbound: { onWrite: () => undefined, seqno: 0, cipherInfo: info, cipherKey: randomBytes(info.keyLen), cipherIV: randomBytes(info.ivLen) } });
    assert.equal(cipher.constructor.name, 'AESGCMCipherBinding');
    const pool = new PacketPool();
    for (const payload of [0, 1, 10, 11, 12, 27, 100, 4000, 4091, 4096, 32768 + 9, 32768 + 9 + 64, 40000]) {
      const theirs = cipher.allocPacket(payload);
      const ours = gcmPacket((bytes) => pool.take(bytes), payload);
      assert.equal(ours.length, theirs.length, `packet length for a ${payload}-byte payload`);
      assert.deepEqual(ours.subarray(0, 5), theirs.subarray(0, 5), `length and padding fields for a ${payload}-byte payload`);
      pool.give(ours);
    }
    assert.ok(pool.stats.reused > 0, 'slabs given back are served again');
  });

  it('get fresh random padding each, across refills of the padding source', () => {
    const pool = new PacketPool();
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) { // an empty payload gets 15 bytes of padding: 45 KB, past two refills
      const packet = gcmPacket((bytes) => pool.take(bytes), 0);
      const pad = packet.subarray(5, packet.length - 16);
      assert.equal(pad.length, 15);
      assert.equal(pad.length, packet[4]);
      seen.add(pad.toString('hex'));
      pool.give(packet);
    }
    assert.equal(seen.size, 3000, 'no padding repeats');
  });

  it('carry transfers through a real sshd intact, across the rekeys it asks for', () => temporaryDirectory(async (dir) => {
    // A rekey after every 2 MiB: each installs a new cipher object, to be taught again.
    const sshd = await startSshd(join(dir, 'sshd'), { extraConfig: 'RekeyLimit 2M' });
    const client = new ssh2.Client();
    let handshakes = 0;
    client.on('handshake', () => handshakes++);
    const socket = connect({ host: '127.0.0.1', port: sshd.port });
    const pool = recycleOutgoingPackets(client, socket);
    const ready = new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
    });
    client.connect({
      sock: socket, username: 'root', privateKey: await readFile(sshd.clientKey),
      algorithms: { cipher: ['aes128-gcm@openssh.com'] },
    });
    try {
      await ready;
      const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
      const put = (name: string, data: Buffer): Promise<void> => new Promise((resolve, reject) => sftp.writeFile(join(dir, name), data, (err) => (err ? reject(err) : resolve())));
      for (const name of ['first', 'second', 'third']) {
        const data = randomBytes(6 << 20);
        await put(name, data);
        assert.deepEqual(await readFile(join(dir, name)), data);
      }
      assert.ok(handshakes >= 4, `sshd rekeyed (${handshakes} handshakes)`);
      // 18 MiB is ~580 packets of 32 KiB: nearly all of them on recycled slabs, after the last rekey too.
      assert.ok(pool.stats.reused > 500, `packets were recycled (${pool.stats.reused})`);
      assert.ok(pool.stats.created <= 64, `a few slabs serve the whole transfer (${pool.stats.created})`);
    } finally {
      client.end();
      socket.destroy();
      await sshd.stop();
    }
  }));
});
