import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { libc } from '@kmx/core';
import { BLOCK_OVERHEAD, NONCE_BYTES, type BlockAead, type RunFailure } from './aead.js';

/**
 * kmx's AES-GCM helper, built from plugins/encfs/native by `npm run build` (this file is in
 * dist/src/lib/cryptocore); $KMX_ENC_GCM_LIBRARY names another (a missing one: Node's crypto).
 */
export const NATIVE_GCM_LIBRARY = process.env.KMX_ENC_GCM_LIBRARY || fileURLToPath(new URL('../../../native/libkmx-enc-gcm.so', import.meta.url));

/** Reasons kmx_gcm_open gives for a block that does not open. */
const TOO_SHORT = 1;
const NOT_AUTHENTIC = 2;

type Handle = unknown;
interface Bindings {
  create(key: Buffer): Handle;
  free(gcm: Handle): void;
  seal(gcm: Handle, plain: Buffer, length: number, block: number, aad: Buffer, aadLength: number, nonces: Buffer, out: Buffer): number;
  open(gcm: Handle, sealed: Buffer, length: number, block: number, aad: Buffer, aadLength: number, content: number, out: Buffer, why: Int32Array): number;
}

let loaded: { bindings: Bindings } | { error: string } | undefined;

/**
 * The helper's functions, loaded once per thread. RTLD_DEEPBIND (koffi's `deep`) keeps
 * libcrypto.so.3 on its own symbols: Node exports those of the OpenSSL linked into it, and
 * with ordinary binding the system library would call into Node's copy (LD_DEBUG=bindings
 * shows ~3,200 such bindings).
 */
function load(): { bindings: Bindings } | { error: string } {
  if (loaded) return loaded;
  if (!existsSync(NATIVE_GCM_LIBRARY)) return (loaded = { error: `${NATIVE_GCM_LIBRARY} is missing (built by npm run build from plugins/encfs/native, with libssl-dev)` });
  try {
    const lib = libc.koffi().load(NATIVE_GCM_LIBRARY, { deep: true });
    const bindings = {
      create: lib.func('void *kmx_gcm_new(void *key)'),
      free: lib.func('void kmx_gcm_free(void *gcm)'),
      seal: lib.func('int64_t kmx_gcm_seal(void *gcm, void *plain, size_t len, size_t block, void *aad, size_t aad_len, void *nonces, void *out)'),
      open: lib.func('int64_t kmx_gcm_open(void *gcm, void *sealed, size_t len, size_t block, void *aad, size_t aad_len, int32_t content, void *out, void *why)'),
    } as Bindings;
    return (loaded = { bindings });
  } catch (err) {
    return (loaded = { error: `${NATIVE_GCM_LIBRARY} does not load: ${err instanceof Error ? err.message : String(err)}` });
  }
}

/** Whether content blocks can be sealed natively here, and why not. */
export function nativeGcmStatus(): { ok: true; library: string } | { ok: false; reason: string } {
  const state = load();
  return 'bindings' in state ? { ok: true, library: NATIVE_GCM_LIBRARY } : { ok: false, reason: state.error };
}

/**
 * AES-256-GCM with 16-byte nonces through OpenSSL's EVP API (kmx-enc-gcm.c): one pair of
 * contexts for the life of the key, a whole run of blocks per call. Byte for byte what Node's
 * crypto and gocryptfs produce (the unit tests cross-check). dispose() frees the contexts.
 */
export class NativeGcmAead implements BlockAead {
  readonly name = 'AES-GCM-256';
  readonly nonceBytes = NONCE_BYTES;
  readonly overhead = BLOCK_OVERHEAD;
  private handle: Handle;
  private readonly why = new Int32Array(1);

  private constructor(private readonly lib: Bindings, key: Buffer) {
    if (key.length !== 32) throw new RangeError('AES-256-GCM needs a 32-byte key');
    this.handle = lib.create(key);
    if (!this.handle) throw new Error('OpenSSL could not set up AES-256-GCM');
  }

  /** A native AEAD for `key`, or the reason there is none. */
  static create(key: Buffer): NativeGcmAead | { error: string } {
    const state = load();
    return 'bindings' in state ? new NativeGcmAead(state.bindings, key) : state;
  }

  sealInto(plaintext: Buffer, nonce: Buffer, aad: Buffer, out: Buffer, at: number): number {
    if (out.length - at < plaintext.length + this.overhead) throw new RangeError('no room for the sealed block');
    return this.checked(this.lib.seal(this.live(), plaintext, plaintext.length, Math.max(1, plaintext.length), aad, aad.length, nonce, out.subarray(at)));
  }

  open(block: Buffer, aad: Buffer): Buffer | undefined {
    if (block.length < this.overhead) return undefined;
    const out = Buffer.allocUnsafe(block.length - this.overhead);
    return this.lib.open(this.live(), block, block.length, block.length, aad, aad.length, 0, out, this.why) < 0 ? undefined : out;
  }

  sealRun(plain: Buffer, blockBytes: number, nonces: Buffer, aad: Buffer, out: Buffer): number {
    const count = Math.ceil(plain.length / blockBytes);
    if (count === 0) return 0;
    if (nonces.length < count * NONCE_BYTES || out.length < plain.length + count * this.overhead) throw new RangeError('no room for the sealed run');
    return this.checked(this.lib.seal(this.live(), plain, plain.length, blockBytes, aad, aad.length, nonces, out));
  }

  openRun(sealed: Buffer, sealedBlockBytes: number, aad: Buffer, out: Buffer): number | RunFailure {
    if (sealed.length === 0) return 0;
    const count = Math.ceil(sealed.length / sealedBlockBytes);
    if (out.length < sealed.length - count * this.overhead) throw new RangeError('no room for the opened run');
    const result = this.lib.open(this.live(), sealed, sealed.length, sealedBlockBytes, aad, aad.length, 1, out, this.why);
    if (result >= 0) return result;
    const index = -1 - result;
    const length = Math.min(sealedBlockBytes, sealed.length - index * sealedBlockBytes);
    if (this.why[0] === TOO_SHORT) return { index, reason: `a ${length}-byte block is too short` };
    if (this.why[0] === NOT_AUTHENTIC) return { index, reason: 'authentication failed' };
    throw new Error('OpenSSL failed to open a block');
  }

  dispose(): void {
    if (!this.handle) return;
    this.lib.free(this.handle);
    this.handle = undefined;
  }

  private live(): Handle {
    if (!this.handle) throw new Error('AES-GCM used after dispose');
    return this.handle;
  }

  private checked(written: number): number {
    if (written < 0) throw new Error('OpenSSL failed to seal a block');
    return written;
  }
}
