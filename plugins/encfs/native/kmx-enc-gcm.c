/*
 * AES-256-GCM over runs of gocryptfs content blocks, through OpenSSL's EVP API.
 *
 * Node's crypto API needs a new cipher object for every 4 KiB block (each block has its own
 * nonce and associated data), which costs several times the encryption itself. Here one pair
 * of EVP contexts per key lives as long as the mount, and a whole run of blocks is sealed or
 * opened in one call from JavaScript: per block only a new IV, the AAD, the data and the tag.
 *
 * Layout (see the gocryptfs format note): a sealed block is nonce(16) || ciphertext || tag(16).
 * The associated data of block i of a run is the caller's AAD with its first 8 bytes, a
 * big-endian block number, increased by i (u64be(blockNo) || fileID in gocryptfs).
 *
 * Loaded by koffi with RTLD_DEEPBIND: Node exports the symbols of its own statically linked
 * OpenSSL, and without deep binding libcrypto.so.3 would call into that copy.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_BYTES 16
#define TAG_BYTES 16
#define OVERHEAD (NONCE_BYTES + TAG_BYTES)
#define MAX_AAD 64

/* Reasons a block does not open, as kmx_gcm_open reports them. */
#define KMX_GCM_SHORT 1
#define KMX_GCM_AUTH 2

struct kmx_gcm {
  EVP_CIPHER_CTX *seal;
  EVP_CIPHER_CTX *open;
};

void kmx_gcm_free(struct kmx_gcm *gcm) {
  if (!gcm) return;
  EVP_CIPHER_CTX_free(gcm->seal); /* frees cleanse the key schedule */
  EVP_CIPHER_CTX_free(gcm->open);
  free(gcm);
}

static int setup(EVP_CIPHER_CTX *ctx, int encrypt, const uint8_t *key) {
  return ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_BYTES, NULL) == 1 &&
         EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, encrypt) == 1;
}

/* Contexts for a 32-byte key (copied into OpenSSL's key schedule), or NULL. */
struct kmx_gcm *kmx_gcm_new(const uint8_t *key) {
  struct kmx_gcm *gcm = calloc(1, sizeof *gcm);
  if (!gcm) return NULL;
  gcm->seal = EVP_CIPHER_CTX_new();
  gcm->open = EVP_CIPHER_CTX_new();
  if (!setup(gcm->seal, 1, key) || !setup(gcm->open, 0, key)) {
    kmx_gcm_free(gcm);
    return NULL;
  }
  return gcm;
}

/* The AAD of the block `index` places after the one `aad` belongs to. */
static void next_aad(uint8_t *out, const uint8_t *aad, size_t aad_len, uint64_t index) {
  uint64_t number = 0;
  for (int i = 0; i < 8; i++) number = number << 8 | aad[i];
  number += index;
  for (int i = 7; i >= 0; i--, number >>= 8) out[i] = (uint8_t)number;
  memcpy(out + 8, aad + 8, aad_len - 8);
}

static int valid_aad(size_t aad_len) {
  return aad_len >= 8 && aad_len <= MAX_AAD;
}

/*
 * Seals `len` bytes of plaintext as blocks of `block` bytes (the last may be shorter), block i
 * under the nonce at nonces + 16 i, into out (len + 32 per block). Returns the bytes written,
 * or -1 if OpenSSL failed.
 */
int64_t kmx_gcm_seal(struct kmx_gcm *gcm, const uint8_t *plain, size_t len, size_t block, const uint8_t *aad, size_t aad_len,
                     const uint8_t *nonces, uint8_t *out) {
  if (!gcm || block == 0 || block > INT32_MAX || !valid_aad(aad_len)) return -1;
  EVP_CIPHER_CTX *ctx = gcm->seal;
  uint8_t block_aad[MAX_AAD];
  size_t written = 0;
  /* An empty plaintext still makes one sealed block (nonce and tag): an empty value. */
  uint64_t count = len == 0 ? 1 : (len + block - 1) / block;
  for (uint64_t i = 0; i < count; i++) {
    size_t at = i * block;
    size_t n = len - at < block ? len - at : block;
    const uint8_t *nonce = nonces + i * NONCE_BYTES;
    uint8_t *sealed = out + written;
    int outl;
    next_aad(block_aad, aad, aad_len, i);
    memcpy(sealed, nonce, NONCE_BYTES);
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, sealed) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &outl, block_aad, (int)aad_len) != 1 ||
        (n > 0 && EVP_EncryptUpdate(ctx, sealed + NONCE_BYTES, &outl, plain + at, (int)n) != 1) ||
        EVP_EncryptFinal_ex(ctx, sealed + NONCE_BYTES + n, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, sealed + NONCE_BYTES + n) != 1)
      return -1;
    written += n + OVERHEAD;
  }
  return (int64_t)written;
}

static int all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/*
 * Opens consecutive sealed blocks of `block` bytes (the last may be shorter) from `sealed` into
 * out. With `content` set, these are file content blocks: each holds at least one byte, and an
 * all-zero block is a hole of a sparse file that opens as zeros (no real block is all zeros:
 * it starts with a random nonce). Returns the plaintext bytes; or, when a block is too short
 * or does not authenticate, -1 - its index, with the reason in *why.
 */
int64_t kmx_gcm_open(struct kmx_gcm *gcm, const uint8_t *sealed, size_t len, size_t block, const uint8_t *aad, size_t aad_len,
                     int32_t content, uint8_t *out, int32_t *why) {
  *why = 0;
  if (!gcm || block < OVERHEAD || block > INT32_MAX || !valid_aad(aad_len)) return -1;
  EVP_CIPHER_CTX *ctx = gcm->open;
  uint8_t block_aad[MAX_AAD];
  uint8_t tag[TAG_BYTES];
  size_t produced = 0;
  for (uint64_t i = 0, at = 0; at < len; i++, at += block) {
    size_t n = len - at < block ? len - at : block;
    const uint8_t *in = sealed + at;
    if (n < OVERHEAD || (content && n == OVERHEAD)) {
      *why = KMX_GCM_SHORT;
      return -1 - (int64_t)i;
    }
    size_t body = n - OVERHEAD;
    if (content && in[0] == 0 && all_zero(in, n)) {
      memset(out + produced, 0, body);
      produced += body;
      continue;
    }
    int outl;
    next_aad(block_aad, aad, aad_len, i);
    memcpy(tag, in + NONCE_BYTES + body, TAG_BYTES);
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, in) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &outl, block_aad, (int)aad_len) != 1 ||
        EVP_DecryptUpdate(ctx, out + produced, &outl, in + NONCE_BYTES, (int)body) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + produced + body, &outl) != 1) {
      memset(out + produced, 0, body); /* never leave unauthenticated plaintext behind */
      *why = KMX_GCM_AUTH;
      return -1 - (int64_t)i;
    }
    produced += body;
  }
  return (int64_t)produced;
}
