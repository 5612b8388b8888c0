// OpenSSL backend: the AES, Camellia and SM4 block functions and AES-GCM through EVP (AES-NI /
// VAES when present).
#include <openssl/evp.h>

#include <climits>

#include "crypto/sym.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

EVP_CIPHER_CTX*& handle(AesContext& ctx) { return *reinterpret_cast<EVP_CIPHER_CTX**>(ctx.opaque); }

// Explicitly fetched cipher objects. Given a legacy EVP_aes_* table, OpenSSL 3 looks the
// provider implementation up again at every EVP_CipherInit_ex (an implicit EVP_CIPHER_fetch:
// ~2.6 k of the ~4.5 k instructions of a key set-up, over half of a GetRandom's DRBG work).
// Fetched once per process instead: the objects are immutable, safe to share between threads,
// and live as long as the process (C++ initialises the statics once, thread-safely). Should a
// fetch fail, the legacy table still works, at the old cost.
const EVP_CIPHER* fetched(const char* name, const EVP_CIPHER* legacy) {
  const EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  return c != nullptr ? c : legacy;
}

// The cipher object for a 16-, 24- or 32-octet key (null for another size).
const EVP_CIPHER* by_key_size(size_t key_size, const EVP_CIPHER* k128, const EVP_CIPHER* k192, const EVP_CIPHER* k256) {
  switch (key_size) {
    case 16: return k128;
    case 24: return k192;
    case 32: return k256;
  }
  return nullptr;
}

const EVP_CIPHER* ecb_cipher(size_t key_size) {
  static const EVP_CIPHER* const k128 = fetched("AES-128-ECB", EVP_aes_128_ecb());
  static const EVP_CIPHER* const k192 = fetched("AES-192-ECB", EVP_aes_192_ecb());
  static const EVP_CIPHER* const k256 = fetched("AES-256-ECB", EVP_aes_256_ecb());
  return by_key_size(key_size, k128, k192, k256);
}
const EVP_CIPHER* camellia_ecb(size_t key_size) {
  static const EVP_CIPHER* const k128 = fetched("CAMELLIA-128-ECB", EVP_camellia_128_ecb());
  static const EVP_CIPHER* const k192 = fetched("CAMELLIA-192-ECB", EVP_camellia_192_ecb());
  static const EVP_CIPHER* const k256 = fetched("CAMELLIA-256-ECB", EVP_camellia_256_ecb());
  return by_key_size(key_size, k128, k192, k256);
}
// SM4 has one key size. A build of OpenSSL without it (OPENSSL_NO_SM4) gives no cipher.
const EVP_CIPHER* sm4_ecb(size_t key_size) {
  static const EVP_CIPHER* const k128 = EVP_CIPHER_fetch(nullptr, "SM4-ECB", nullptr);
  return key_size == 16 ? k128 : nullptr;
}
const EVP_CIPHER* block_ecb(BlockCipher c, size_t key_size) {
  switch (c) {
    case BlockCipher::aes: return ecb_cipher(key_size);
    case BlockCipher::camellia: return camellia_ecb(key_size);
    case BlockCipher::sm4: return sm4_ecb(key_size);
  }
  return nullptr;
}

const EVP_CIPHER* gcm_cipher(size_t key_size) {
  static const EVP_CIPHER* const k128 = fetched("AES-128-GCM", EVP_aes_128_gcm());
  static const EVP_CIPHER* const k192 = fetched("AES-192-GCM", EVP_aes_192_gcm());
  static const EVP_CIPHER* const k256 = fetched("AES-256-GCM", EVP_aes_256_gcm());
  return by_key_size(key_size, k128, k192, k256);
}

bool fits_int(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

}  // namespace

bool block_cipher_supported(BlockCipher c, size_t key_bytes) { return block_ecb(c, key_bytes) != nullptr; }

Status aes_init(AesContext& ctx, Bytes key, bool encrypt) {
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) {
    handle(ctx) = nullptr;
    return Status::bad_input;
  }
  return block_init(ctx, BlockCipher::aes, key, encrypt);
}

Status block_init(AesContext& ctx, BlockCipher which, Bytes key, bool encrypt) {
  handle(ctx) = nullptr;
  const EVP_CIPHER* cipher = block_ecb(which, key.size());
  if (cipher == nullptr) return Status::unsupported;
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  if (c == nullptr) return Status::failure;
  if (EVP_CipherInit_ex(c, cipher, nullptr, key.data(), nullptr, encrypt ? 1 : 0) != 1 ||
      EVP_CIPHER_CTX_set_padding(c, 0) != 1) {
    EVP_CIPHER_CTX_free(c);
    return Status::failure;
  }
  handle(ctx) = c;
  return Status::ok;
}

void aes_blocks(AesContext& ctx, const uint8_t* in, uint8_t* out, size_t n_blocks) {
  EVP_CIPHER_CTX* c = handle(ctx);
  while (n_blocks > 0) {
    // EVP takes an int length; callers pass small counts, but stay correct for any.
    const size_t chunk = n_blocks > (1u << 20) ? (1u << 20) : n_blocks;
    int len = 0;
    EVP_CipherUpdate(c, out, &len, in, static_cast<int>(chunk * kAesBlockSize));
    in += chunk * kAesBlockSize;
    out += chunk * kAesBlockSize;
    n_blocks -= chunk;
  }
}

void aes_release(AesContext& ctx) {
  EVP_CIPHER_CTX_free(handle(ctx));  // also wipes the key schedule
  zeroize(ctx);
}

Status aes_gcm_seal(Bytes key, Bytes nonce, Bytes aad, Bytes in, MutBytes out, MutBytes tag) {
  const EVP_CIPHER* cipher = gcm_cipher(key.size());
  if (cipher == nullptr || nonce.empty() || nonce.size() > 128 || tag.size() < 4 ||
      tag.size() > 16 || out.size() != in.size() || !fits_int(in.size()) ||
      !fits_int(aad.size())) {
    return Status::bad_input;
  }
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  if (c == nullptr) return Status::failure;
  int len = 0;
  uint8_t final_block[kAesBlockSize];  // GCM emits nothing at final; never write past out
  bool ok = EVP_EncryptInit_ex(c, cipher, nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                                nullptr) == 1 &&
            EVP_EncryptInit_ex(c, nullptr, nullptr, key.data(), nonce.data()) == 1 &&
            (aad.empty() ||
             EVP_EncryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
            (in.empty() ||
             EVP_EncryptUpdate(c, out.data(), &len, in.data(), static_cast<int>(in.size())) == 1) &&
            EVP_EncryptFinal_ex(c, final_block, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()),
                                tag.data()) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok ? Status::ok : Status::failure;
}

Status aes_gcm_open(Bytes key, Bytes nonce, Bytes aad, Bytes in, Bytes tag, MutBytes out) {
  const EVP_CIPHER* cipher = gcm_cipher(key.size());
  if (cipher == nullptr || nonce.empty() || nonce.size() > 128 || tag.size() < 4 ||
      tag.size() > 16 || out.size() != in.size() || !fits_int(in.size()) ||
      !fits_int(aad.size())) {
    return Status::bad_input;
  }
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  if (c == nullptr) return Status::failure;
  int len = 0;
  uint8_t final_block[kAesBlockSize];
  uint8_t tag_copy[16];
  for (size_t i = 0; i < tag.size(); ++i) tag_copy[i] = tag[i];
  bool ok = EVP_DecryptInit_ex(c, cipher, nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                                nullptr) == 1 &&
            EVP_DecryptInit_ex(c, nullptr, nullptr, key.data(), nonce.data()) == 1 &&
            (aad.empty() ||
             EVP_DecryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
            (in.empty() ||
             EVP_DecryptUpdate(c, out.data(), &len, in.data(), static_cast<int>(in.size())) == 1) &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                                tag_copy) == 1;
  const bool tag_ok = ok && EVP_DecryptFinal_ex(c, final_block, &len) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!tag_ok) {
    zeroize(out.data(), out.size());
    return ok ? Status::verify_failed : Status::failure;
  }
  return Status::ok;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
