// AES in the block modes TPM2_EncryptDecrypt and parameter encryption use.
//
// The modes are implemented once in src/crypto/common on the backend's AES block function,
// so the chaining value handed back (the TPM's ivOut) has one definition for both backends:
//   CBC: the last ciphertext block;  CFB: the last ciphertext block, or, after a partial final
//   block, the encrypted register with the produced ciphertext octets in its head;
//   CTR: the next counter value (a partially used block counts as used);  OFB: the last
//   keystream block;  ECB: unchanged.
// CFB is the TPM's CFB-128 (full 16-byte feedback), the mode of parameter encryption.
#pragma once

#include "crypto/crypto.h"

namespace utpm::crypto {

// TPM_ALG_ID values.
enum class SymMode : uint16_t {
  ctr = 0x0040,
  ofb = 0x0041,
  cbc = 0x0042,
  cfb = 0x0043,
  ecb = 0x0044,
};
inline constexpr uint16_t kAlgAes = 0x0006;
inline constexpr size_t kAesBlockSize = 16;

// The 128-bit block ciphers a TPM may offer (TPM_ALG_ID values). Every mode below runs on any
// of them; which ones a backend has, and with which key sizes, says block_cipher_supported():
// OpenSSL has all three, mbedTLS (firmware) AES only.
enum class BlockCipher : uint16_t {
  aes = 0x0006,
  sm4 = 0x0013,
  camellia = 0x0026,
};

// Opaque backend key schedule (of any BlockCipher; the name is historical). Valid only inside
// the call that created it: it may hold a library handle or self-pointers, so it is neither
// copied nor saved. Always release with aes_release(), which also wipes it.
struct AesContext {
  alignas(16) uint8_t opaque[320];
};

inline namespace UTPM_CRYPTO_NS {

// ---- the backend's block primitive ----
// Whether this backend has the cipher with a key of key_bytes octets (AES 16/24/32, Camellia
// 16/24/32, SM4 16 where present).
bool block_cipher_supported(BlockCipher c, size_t key_bytes);
// Status::unsupported for a cipher or key size block_cipher_supported() denies.
Status block_init(AesContext& ctx, BlockCipher c, Bytes key, bool encrypt);
// key.size() must be 16, 24 or 32 (block_init for AES).
Status aes_init(AesContext& ctx, Bytes key, bool encrypt);
// Processes n_blocks consecutive 16-byte blocks (ECB) of whichever cipher ctx holds. in and out
// may alias exactly.
void aes_blocks(AesContext& ctx, const uint8_t* in, uint8_t* out, size_t n_blocks);
void aes_release(AesContext& ctx);

// ---- modes (common) ----
// iv: 16 bytes, updated in place to the chaining value described above (ignored for ECB, may
// be empty). ECB and CBC need in.size() to be a multiple of 16; the others take any length.
// out.size() must equal in.size(); in and out may alias exactly.
Status sym_encrypt(SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out);
Status sym_decrypt(SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out);
// The same modes over any block cipher (the two above are AES).
Status sym_encrypt(BlockCipher c, SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out);
Status sym_decrypt(BlockCipher c, SymMode mode, Bytes key, MutBytes iv, Bytes in, MutBytes out);

// AES-GCM with any AES key size (the store's aead_seal/aead_open are AES-256 with fixed
// sizes). nonce 1..128 bytes; tag 4..16 bytes.
Status aes_gcm_seal(Bytes key, Bytes nonce, Bytes aad, Bytes in, MutBytes out, MutBytes tag);
Status aes_gcm_open(Bytes key, Bytes nonce, Bytes aad, Bytes in, Bytes tag, MutBytes out);

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
