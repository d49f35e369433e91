import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { temporaryDirectory } from '@kmx/core/testing';
import { Config, deriveKek } from '../src/lib/configfile/index.js';
import { ContentEnc, CorruptBlockError, PLAIN_BLOCK } from '../src/lib/contentenc/index.js';
import { AesGcmAead, HKDF_INFO, NativeGcmAead, hkdf, nativeGcmStatus, type BlockAead } from '../src/lib/cryptocore/index.js';
import { PASSWORD, gocryptfsInit } from './helpers.js';

/**
 * kmx's native AES-GCM (OpenSSL's EVP API through kmx-enc-gcm.c) against Node's crypto and
 * gocryptfs: the same bytes for the same key, nonces and associated data, each side opening
 * what the other sealed, and nothing unauthenticated ever returned.
 */

const CIPHER_BLOCK = PLAIN_BLOCK + 32;

function native(key: Buffer): NativeGcmAead {
  const aead = NativeGcmAead.create(key);
  if (!(aead instanceof NativeGcmAead)) throw new Error(aead.error);
  return aead;
}

describe('native AES-GCM', () => {
  const key = randomBytes(32);
  const fileId = randomBytes(16);
  const made: BlockAead[] = [];
  const both = (): { c: NativeGcmAead; node: AesGcmAead } => {
    const c = native(key);
    made.push(c);
    return { c, node: new AesGcmAead(key) };
  };
  after(() => made.forEach((a) => a.dispose()));

  it('is built and loads here (npm run build compiles it; setup installs libssl-dev)', () => {
    const status = nativeGcmStatus();
    assert.ok(status.ok, status.ok ? '' : status.reason);
  });

  it("seals runs byte for byte as Node's crypto does, and each opens the other's", () => {
    const { c, node } = both();
    // A block number past 2^32: the counter in the AAD carries into its high word.
    for (const [first, length] of [[0, 1], [7, 5 * PLAIN_BLOCK], [2 ** 32 - 2, 4 * PLAIN_BLOCK + 100], [3, PLAIN_BLOCK - 1]] as const) {
      const plain = randomBytes(length);
      const count = Math.ceil(length / PLAIN_BLOCK);
      const nonces = randomBytes(count * 16);
      const aad = ContentEnc.aad(first, fileId);
      const fromNative = Buffer.alloc(length + count * 32);
      const fromNode = Buffer.alloc(length + count * 32);
      assert.equal(c.sealRun(plain, PLAIN_BLOCK, nonces, aad, fromNative), fromNative.length);
      assert.equal(node.sealRun(plain, PLAIN_BLOCK, nonces, aad, fromNode), fromNode.length);
      assert.deepEqual(fromNative, fromNode, `blocks ${first}… (${length} bytes)`);
      const out = Buffer.alloc(length);
      assert.equal(c.openRun(fromNode, CIPHER_BLOCK, aad, out), length);
      assert.deepEqual(out, plain);
      out.fill(0);
      assert.equal(node.openRun(fromNative, CIPHER_BLOCK, aad, out), length);
      assert.deepEqual(out, plain);
    }
  });

  it('seals single values (symlink targets, xattr values: any length, no file ID) as Node does', () => {
    const { c, node } = both();
    const aad = ContentEnc.aad(0, undefined);
    for (const length of [0, 1, 4096, 70_000]) {
      const value = randomBytes(length);
      const nonce = randomBytes(16);
      const a = Buffer.alloc(length + 32);
      const b = Buffer.alloc(length + 32);
      assert.equal(c.sealInto(value, nonce, aad, a, 0), a.length);
      node.sealInto(value, nonce, aad, b, 0);
      assert.deepEqual(a, b, `${length} bytes`);
      assert.deepEqual(c.open(b, aad), value);
      assert.deepEqual(node.open(a, aad), value);
    }
  });

  it('fails authentication on any flipped bit, another block number or another file, and returns none of that block', () => {
    const { c } = both();
    const enc = new ContentEnc(c);
    const plain = randomBytes(4 * PLAIN_BLOCK);
    const sealed = enc.encryptBlocks(plain, 10, fileId, (_first, count) => randomBytes(count * 16));
    assert.deepEqual(enc.decryptBlocks(sealed, 10, fileId), plain);
    // In block 2 of the run: its nonce, its ciphertext, its tag.
    for (const at of [2 * CIPHER_BLOCK, 2 * CIPHER_BLOCK + 16 + 1000, 3 * CIPHER_BLOCK - 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      const out = Buffer.alloc(plain.length, 0xee);
      assert.deepEqual(c.openRun(bad, CIPHER_BLOCK, ContentEnc.aad(10, fileId), out), { index: 2, reason: 'authentication failed' }, `bit flipped at ${at}`);
      assert.ok(out.subarray(2 * PLAIN_BLOCK, 3 * PLAIN_BLOCK).every((b) => b === 0), 'the failing block leaves no plaintext behind');
      assert.throws(() => enc.decryptBlocks(bad, 10, fileId), (err: unknown) => err instanceof CorruptBlockError && err.blockNo === 12);
    }
    assert.throws(() => enc.decryptBlocks(sealed, 11, fileId), (err: unknown) => err instanceof CorruptBlockError && err.blockNo === 11);
    assert.throws(() => enc.decryptBlocks(sealed, 10, randomBytes(16)), CorruptBlockError);
    const value = enc.sealValue(Buffer.from('target'), randomBytes(16));
    value[value.length - 1]! ^= 0x80;
    assert.equal(enc.openValue(value), undefined);
  });

  it('reads all-zero blocks as holes, and refuses a block too short to hold a byte', () => {
    const { c } = both();
    const enc = new ContentEnc(c);
    const plain = randomBytes(3 * PLAIN_BLOCK);
    const sealed = enc.encryptBlocks(plain, 0, fileId, (_first, count) => randomBytes(count * 16));
    sealed.fill(0, CIPHER_BLOCK, 2 * CIPHER_BLOCK);
    const expected = Buffer.from(plain);
    expected.fill(0, PLAIN_BLOCK, 2 * PLAIN_BLOCK);
    assert.deepEqual(enc.decryptBlocks(sealed, 0, fileId), expected);
    const short = Buffer.concat([sealed.subarray(0, CIPHER_BLOCK), sealed.subarray(2 * CIPHER_BLOCK, 2 * CIPHER_BLOCK + 32)]);
    assert.throws(() => enc.decryptBlocks(short, 0, fileId), (err: unknown) => err instanceof CorruptBlockError && err.blockNo === 1 && /32-byte block is too short/.test(err.reason));
    // A value may be empty: 32 bytes (nonce and tag) are a whole sealed value.
    assert.deepEqual(enc.openValue(enc.sealValue(Buffer.alloc(0), randomBytes(16))), Buffer.alloc(0));
  });

  it("opens the master key gocryptfs sealed in its config (gocryptfs's own AES-GCM bytes)", async () => {
    await temporaryDirectory(async (dir) => {
      await gocryptfsInit(dir);
      const config = Config.parse(await readFile(join(dir, 'gocryptfs.conf'), 'utf8'), 'gocryptfs.conf');
      const kek = await deriveKek(Buffer.from(PASSWORD), config.json.ScryptObject);
      const c = native(hkdf(kek, HKDF_INFO.gcmContent, 32));
      try {
        const wrapAad = Buffer.alloc(8); // block 0, no file ID
        const master = c.open(config.encryptedKey, wrapAad);
        assert.equal(master?.length, 32);
        assert.equal(c.open(config.encryptedKey, ContentEnc.aad(1, undefined)), undefined, 'another block number');
        const tampered = Buffer.from(config.encryptedKey);
        tampered[20]! ^= 4;
        assert.equal(c.open(tampered, wrapAad), undefined, 'a flipped bit');
      } finally {
        c.dispose();
      }
    });
  });

  it('frees its contexts once, and refuses use after that', () => {
    const c = native(key);
    c.dispose();
    c.dispose();
    assert.throws(() => c.open(Buffer.alloc(40), Buffer.alloc(8)), /after dispose/);
  });
});
