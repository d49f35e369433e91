import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Config } from '../src/lib/configfile/index.js';
import { BlockLayout, ContentEnc, CorruptBlockError } from '../src/lib/contentenc/index.js';
import { AesGcmAead, AesSiv, AesSivAead, Cmac, Eme, randomPool } from '../src/lib/cryptocore/index.js';
import { NameBase64, NameTransform } from '../src/lib/nametransform/index.js';
import { blockNonces, pathIv } from '../src/lib/pathiv/index.js';

/**
 * The building blocks, on their own: published vectors for CMAC (RFC 4493) and AES-SIV
 * (RFC 5297), EME's properties, strict base64, the size arithmetic of the format note, and
 * the config checks. Agreement with gocryptfs itself is what the interop tests show.
 */

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('cryptocore', () => {
  it('CMAC matches RFC 4493, also when one instance MACs many long messages in a row', () => {
    const cmac = new Cmac(hex('2b7e1516 28aed2a6 abf71588 09cf4f3c'));
    const m = hex('6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710');
    const cases: Array<[number, string]> = [
      [0, 'bb1d6929 e9593728 7fa37d12 9b756746'],
      [16, '070a16b4 6b4d4144 f79bdd9d d04a287c'],
      [40, 'dfa66747 de9ae630 30ca3261 1497c827'],
      [64, '51f0bebf 7e3b9d92 fc497417 79363cfe'],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [length, mac] of cases) assert.deepEqual(cmac.mac(m.subarray(0, length)), hex(mac), `${length} bytes, round ${round}`);
    }
    // The reused CBC object must not carry state from one message into the next.
    const key = randomBytes(32);
    const shared = new Cmac(key);
    for (let i = 0; i < 20; i++) {
      const message = randomBytes(16 + ((i * 977) % 5000));
      assert.deepEqual(shared.mac(message), new Cmac(key).mac(message));
    }
  });

  it('AES-SIV matches RFC 5297 (A.1 deterministic, A.2 with a nonce) and rejects any change', () => {
    const a1 = new AesSiv(hex('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff'));
    const ad1 = hex('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627');
    const sealed1 = a1.seal(hex('11223344 55667788 99aabbcc ddee'), [ad1]);
    assert.deepEqual(sealed1, hex('85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c'));
    assert.deepEqual(a1.open(sealed1, [ad1]), hex('11223344 55667788 99aabbcc ddee'));

    const a2 = new AesSiv(hex('7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f'));
    const ads = [
      hex('00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100'),
      hex('10203040 50607080 90a0'),
      hex('09f91102 9d74e35b d84156c5 635688c0'),
    ];
    const plain = hex('74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553');
    const sealed2 = a2.seal(plain, ads);
    assert.deepEqual(sealed2, hex('7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17 dba77ceb 094fa663 b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d'));
    for (const i of [0, 15, 16, sealed2.length - 1]) {
      const tampered = Buffer.from(sealed2);
      tampered[i]! ^= 1;
      assert.equal(a2.open(tampered, ads), undefined, `byte ${i} flipped`);
    }
    assert.equal(a2.open(sealed2, ads.slice(0, 2)), undefined, 'other associated data');
  });

  it('content AEADs seal 4 KiB blocks bound to their number and file ID; holes read as zeros', () => {
    for (const aead of [new AesGcmAead(randomBytes(32)), new AesSivAead(randomBytes(64))]) {
      const enc = new ContentEnc(aead);
      const fileId = randomBytes(16);
      const plain = randomBytes(3 * 4096 + 100);
      const sealed = enc.encryptBlocks(plain, 7, fileId, () => randomPool.take(16));
      assert.equal(sealed.length, plain.length + 4 * 32);
      assert.deepEqual(enc.decryptBlocks(sealed, 7, fileId), plain, aead.name);
      assert.throws(() => enc.decryptBlocks(sealed, 8, fileId), (e: unknown) => e instanceof CorruptBlockError && e.blockNo === 8, `${aead.name}: moved`);
      assert.throws(() => enc.decryptBlocks(sealed, 7, randomBytes(16)), CorruptBlockError, `${aead.name}: other file`);
      const holed = Buffer.from(sealed);
      holed.fill(0, 4128, 2 * 4128);
      assert.deepEqual(enc.decryptBlocks(holed, 7, fileId).subarray(4096, 8192), Buffer.alloc(4096), `${aead.name}: a hole`);
    }
  });

  it('EME round-trips 1 to 128 blocks, and every output byte depends on the tweak and on every input byte', () => {
    const eme = new Eme(randomBytes(32));
    const tweak = randomBytes(16);
    for (const blocks of [1, 2, 3, 16, 127, 128]) {
      const data = randomBytes(blocks * 16);
      const out = eme.encrypt(tweak, data);
      assert.deepEqual(eme.decrypt(tweak, out), data);
      const otherTweak = eme.encrypt(randomBytes(16), data);
      const flipped = Buffer.from(data);
      flipped[data.length - 1]! ^= 1;
      const otherInput = eme.encrypt(tweak, flipped);
      assert.ok(out.subarray(0, 16).compare(otherTweak.subarray(0, 16)) !== 0 && out.subarray(0, 16).compare(otherInput.subarray(0, 16)) !== 0);
    }
    assert.throws(() => eme.encrypt(tweak, Buffer.alloc(129 * 16)), RangeError);
    assert.throws(() => eme.encrypt(tweak, Buffer.alloc(15)), RangeError);
  });
});

describe('names, paths and sizes', () => {
  it('names: padded to whole blocks, long ones hashed, invalid ones refused; base64 is strict', () => {
    const names = new NameTransform(new Eme(randomBytes(32)), { plaintextNames: false, raw64: true, longNames: true, longNameMax: 255 });
    const iv = randomBytes(16);
    for (const [length, encoded] of [[15, 22], [16, 43], [175, 235], [176, 256]] as const) {
      const cipher = names.encryptName('n'.repeat(length), iv);
      assert.equal(cipher.length, encoded, `${length}-byte name`);
      assert.equal(names.decryptName(cipher, iv), 'n'.repeat(length));
    }
    assert.equal(names.onDisk(names.encryptName('n'.repeat(175), iv)).longName, undefined);
    assert.match(names.onDisk(names.encryptName('n'.repeat(176), iv)).name, /^gocryptfs\.longname\.[A-Za-z0-9_-]{43}$/);
    const good = names.encryptName('file', iv);
    for (const bad of [`${good}=`, good.replace(/^./, '+'), good.slice(1), `${good}AA`, 'gocryptfs', '']) assert.throws(() => names.decryptName(bad, iv), /bad name/, bad);
    assert.throws(() => names.decryptName(good, randomBytes(16)), /bad name/, 'another directory');
    const padded = new NameBase64(false);
    assert.equal(padded.encode(Buffer.from('ab')), 'YWI=');
    assert.equal(padded.decode('YWI'), undefined);
  });

  it('sizes follow the format: 18-byte header, 32 bytes per 4 KiB block; impossible sizes are corrupt', () => {
    const layout = new BlockLayout(32);
    for (const [plain, cipher] of [[0, 0], [3, 53], [6, 56], [4096, 4146], [10000, 10114], [100000, 100818]] as const) {
      assert.equal(layout.cipherSize(plain), cipher);
      assert.deepEqual(layout.plainSize(cipher), { size: plain, corrupt: false });
    }
    for (const cipher of [1, 17, 18 + 4128 + 1, 18 + 4128 + 32, 18 + 32]) assert.equal(layout.plainSize(cipher).corrupt, true, String(cipher));
  });

  it('reverse IVs: SHA-256 of path, NUL and purpose; block nonces count up in the last 8 bytes', () => {
    assert.equal(pathIv('', 'DIRIV').length, 16);
    assert.notDeepEqual(pathIv('a', 'FILEID'), pathIv('a', 'DIRIV'));
    const nonce = blockNonces('some/path');
    const base = pathIv('some/path', 'BLOCK0IV');
    assert.deepEqual(nonce(0), base);
    assert.equal(nonce(5).readBigUInt64BE(8), (base.readBigUInt64BE(8) + 5n) & 0xffffffffffffffffn);
    assert.deepEqual(nonce(5).subarray(0, 8), base.subarray(0, 8));
  });
});

describe('configfile', () => {
  const valid = {
    Creator: 'test', EncryptedKey: Buffer.alloc(64, 1).toString('base64'),
    ScryptObject: { Salt: Buffer.alloc(32, 2).toString('base64'), N: 1024, R: 8, P: 1, KeyLen: 32 },
    Version: 2, FeatureFlags: ['HKDF', 'GCMIV128', 'DirIV', 'EMENames', 'LongNames', 'Raw64'],
  };

  it('parses a gocryptfs config and writes it back byte for byte', () => {
    const text = `${JSON.stringify(valid, null, '\t')}\n`;
    const config = Config.parse(text, 'c');
    assert.equal(config.serialize(), text);
    assert.equal(config.longNameMax, 255);
    assert.equal(config.contentEncryption, 'AES-GCM-256');
  });

  it('refuses what it cannot honour, with the reason', () => {
    const bad = (change: Record<string, unknown>): string => JSON.stringify({ ...valid, ...change });
    assert.throws(() => Config.parse(bad({ FeatureFlags: [...valid.FeatureFlags, 'FIDO2'] }), 'c'), /"FIDO2": the password is held by a FIDO2 token/);
    assert.throws(() => Config.parse(bad({ FeatureFlags: [...valid.FeatureFlags, 'New'] }), 'c'), /"New", which kmx does not know/);
    assert.throws(() => Config.parse(bad({ FeatureFlags: ['HKDF', 'DirIV', 'EMENames'] }), 'c'), /GCMIV128 is missing/);
    assert.throws(() => Config.parse(bad({ FeatureFlags: [...valid.FeatureFlags, 'LongNameMax'], LongNameMax: 20 }), 'c'), /LongNameMax must be 62/);
    assert.throws(() => Config.parse(bad({ ScryptObject: { ...valid.ScryptObject, N: 2 ** 29 } }), 'c'), /scrypt N must be a power of two/);
    assert.throws(() => Config.parse(bad({ Version: 1 }), 'c'), /version 1/);
    assert.throws(() => Config.parse('[]', 'c'), /not a JSON object/);
    assert.throws(() => Config.parse(bad({ KmxSources: [{ Label: 'a' }] }), 'c'), /KmxSources\[0\] needs a "Label" and a "Path"/);
  });
});
