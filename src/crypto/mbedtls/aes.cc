// mbedTLS backend: AES block function and AES-GCM.
#include <mbedtls/aes.h>
#include <mbedtls/gcm.h>

#include <new>

#include "crypto/sym.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

static_assert(sizeof(mbedtls_aes_context) + sizeof(int) <= sizeof(AesContext::opaque));
static_assert(alignof(mbedtls_aes_context) <= alignof(AesContext));

// Layout inside AesContext: the mbedTLS context, then the direction. The context holds a
// pointer into itself (rk), which is why AesContext must never be copied.
struct Held {
  mbedtls_aes_context aes;
  int mode;
};
static_assert(sizeof(Held) <= sizeof(AesContext::opaque));

Held* held(AesContext& ctx) { return reinterpret_cast<Held*>(ctx.opaque); }

bool gcm_sizes_ok(Bytes key, Bytes nonce, size_t tag_size, size_t in_size, size_t out_size) {
  return (key.size() == 16 || key.size() == 24 || key.size() == 32) && !nonce.empty() &&
         nonce.size() <= 128 && tag_size >= 4 && tag_size <= 16 && in_size == out_size;
}

}  // namespace

// AES only: the firmware profile offers no other block cipher, and mbedTLS 2.28 has no SM4.
bool block_cipher_supported(BlockCipher c, size_t key_bytes) {
  return c == BlockCipher::aes && (key_bytes == 16 || key_bytes == 24 || key_bytes == 32);
}

Status block_init(AesContext& ctx, BlockCipher c, Bytes key, bool encrypt) {
  if (!block_cipher_supported(c, key.size())) return Status::unsupported;
  return aes_init(ctx, key, encrypt);
}

Status aes_init(AesContext& ctx, Bytes key, bool encrypt) {
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) return Status::bad_input;
  Held* h = new (ctx.opaque) Held;
  mbedtls_aes_init(&h->aes);
  const unsigned bits = static_cast<unsigned>(key.size() * 8);
  const int rc = encrypt ? mbedtls_aes_setkey_enc(&h->aes, key.data(), bits)
                         : mbedtls_aes_setkey_dec(&h->aes, key.data(), bits);
  h->mode = encrypt ? MBEDTLS_AES_ENCRYPT : MBEDTLS_AES_DECRYPT;
  if (rc != 0) {
    aes_release(ctx);
    return Status::failure;
  }
  return Status::ok;
}

void aes_blocks(AesContext& ctx, const uint8_t* in, uint8_t* out, size_t n_blocks) {
  Held* h = held(ctx);
  for (size_t i = 0; i < n_blocks; ++i) {
    mbedtls_aes_crypt_ecb(&h->aes, h->mode, in + i * kAesBlockSize, out + i * kAesBlockSize);
  }
}

void aes_release(AesContext& ctx) {
  mbedtls_aes_free(&held(ctx)->aes);
  zeroize(ctx);
}

Status aes_gcm_seal(Bytes key, Bytes nonce, Bytes aad, Bytes in, MutBytes out, MutBytes tag) {
  if (!gcm_sizes_ok(key, nonce, tag.size(), in.size(), out.size())) return Status::bad_input;
  mbedtls_gcm_context gcm;
  mbedtls_gcm_init(&gcm);
  int rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key.data(),
                              static_cast<unsigned>(key.size() * 8));
  if (rc == 0) {
    rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, in.size(), nonce.data(),
                                   nonce.size(), aad.data(), aad.size(), in.data(), out.data(),
                                   tag.size(), tag.data());
  }
  mbedtls_gcm_free(&gcm);
  return rc == 0 ? Status::ok : Status::failure;
}

Status aes_gcm_open(Bytes key, Bytes nonce, Bytes aad, Bytes in, Bytes tag, MutBytes out) {
  if (!gcm_sizes_ok(key, nonce, tag.size(), in.size(), out.size())) return Status::bad_input;
  mbedtls_gcm_context gcm;
  mbedtls_gcm_init(&gcm);
  int rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key.data(),
                              static_cast<unsigned>(key.size() * 8));
  if (rc == 0) {
    rc = mbedtls_gcm_auth_decrypt(&gcm, in.size(), nonce.data(), nonce.size(), aad.data(),
                                  aad.size(), tag.data(), tag.size(), in.data(), out.data());
  }
  mbedtls_gcm_free(&gcm);
  if (rc == MBEDTLS_ERR_GCM_AUTH_FAILED) return Status::verify_failed;  // out already wiped
  return rc == 0 ? Status::ok : Status::failure;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
