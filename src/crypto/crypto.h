// utpm crypto interface: the only door between the engine/store and a crypto library.
//
// Contract (both backends, OpenSSL for the host and mbedTLS for firmware, implement exactly
// these free functions; the one linked in decides):
//   - span-based, no heap in the interface, no exceptions; every fallible call returns Status.
//   - algorithm identifiers are the TPM_ALG_ID values, so the engine passes them straight through.
//   - all state types are fixed-size and trivially copyable, so the engine can keep them in
//     its object slots and context-save them.
//   - secrets held in state types are wiped with zeroize() by the owner when done.
//
// The backend-independent constructions that the TPM specification itself defines (KDFa, KDFe,
// MGF1, the CTR_DRBG mechanism, RSA/ECC key derivation from a seed) live in src/crypto/common and
// are built on the primitives below, so both backends give bit-identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

// Every function is declared inside an inline namespace named after the backend (set by the
// backend's CMake target: linking utpm_crypto brings the right one). Callers never name it;
// it exists so that one test binary can link BOTH backends and compare them (the differential
// tests), and so that linking the wrong backend fails loudly instead of silently.
// Types stay in utpm::crypto itself so values pass freely between the two.
#ifndef UTPM_CRYPTO_NS
#define UTPM_CRYPTO_NS unbound_link_utpm_crypto
#endif

namespace utpm::crypto {

using Bytes = std::span<const uint8_t>;
using MutBytes = std::span<uint8_t>;

enum class Status : uint8_t {
  ok = 0,
  bad_input,        // a size or parameter out of range
  unsupported,      // algorithm or size not in this build
  verify_failed,    // signature / tag / padding check failed
  failure,          // library failure (should not happen)
};

// ---- algorithm identifiers (TPM_ALG_ID values) ----
enum class HashAlg : uint16_t {
  sha1 = 0x0004,
  sha256 = 0x000B,
  sha384 = 0x000C,
  sha512 = 0x000D,
};

inline constexpr size_t kMaxDigestSize = 64;
inline constexpr size_t kMaxHashBlockSize = 128;

constexpr size_t digest_size(HashAlg a) {
  switch (a) {
    case HashAlg::sha1: return 20;
    case HashAlg::sha256: return 32;
    case HashAlg::sha384: return 48;
    case HashAlg::sha512: return 64;
  }
  return 0;
}
constexpr size_t block_size(HashAlg a) {
  switch (a) {
    case HashAlg::sha1:
    case HashAlg::sha256: return 64;
    case HashAlg::sha384:
    case HashAlg::sha512: return 128;
  }
  return 0;
}
inline namespace UTPM_CRYPTO_NS {
// True if the numeric TPM_ALG_ID is a hash this build implements.
bool hash_supported(uint16_t alg_id);
}  // namespace UTPM_CRYPTO_NS

// ---- hashing ----
// Opaque, trivially copyable incremental state (large enough for SHA-512 in either library).
struct HashState {
  HashAlg alg;
  alignas(8) uint8_t opaque[224];
};
inline namespace UTPM_CRYPTO_NS {
Status hash_start(HashState& st, HashAlg alg);
void hash_update(HashState& st, Bytes data);
// Writes digest_size(st.alg) bytes to out (out.size() must be >= that); returns bytes written.
size_t hash_finish(HashState& st, MutBytes out);
size_t hash(HashAlg alg, Bytes data, MutBytes out);
}  // namespace UTPM_CRYPTO_NS

// ---- HMAC (FIPS 198) ----
struct HmacState {
  HashState inner;
  HashState outer;
};
inline namespace UTPM_CRYPTO_NS {
Status hmac_start(HmacState& st, HashAlg alg, Bytes key);
void hmac_update(HmacState& st, Bytes data);
size_t hmac_finish(HmacState& st, MutBytes out);
size_t hmac(HashAlg alg, Bytes key, Bytes data, MutBytes out);
}  // namespace UTPM_CRYPTO_NS

// ---- AEAD for the secure store: AES-256-GCM, 12-byte nonce, 16-byte tag ----
inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;
inline namespace UTPM_CRYPTO_NS {
// out.size() == in.size(); in and out may alias exactly.
Status aead_seal(Bytes key, Bytes nonce, Bytes aad, Bytes in, MutBytes out, MutBytes tag);
// Returns verify_failed (and wipes out) if the tag does not match.
Status aead_open(Bytes key, Bytes nonce, Bytes aad, Bytes in, Bytes tag, MutBytes out);
}  // namespace UTPM_CRYPTO_NS

// ---- utilities ----
inline namespace UTPM_CRYPTO_NS {
// Constant-time equality of two byte strings (length is not secret).
bool ct_equal(Bytes a, Bytes b);
// Wipes memory in a way the compiler cannot elide.
void zeroize(void* p, size_t n);
template <class T>
void zeroize(T& obj) { zeroize(&obj, sizeof obj); }
// Wipes an object when the scope ends, however it ends (early error returns included).
template <class T>
class ZeroizeOnExit {
 public:
  explicit ZeroizeOnExit(T& obj) : obj_(obj) {}
  ~ZeroizeOnExit() { zeroize(obj_); }
  ZeroizeOnExit(const ZeroizeOnExit&) = delete;
  ZeroizeOnExit& operator=(const ZeroizeOnExit&) = delete;

 private:
  T& obj_;
};
}  // namespace UTPM_CRYPTO_NS

inline namespace UTPM_CRYPTO_NS {
// Name of the backend linked in ("openssl" / "mbedtls"), for --version and reports.
const char* backend_name();
}  // namespace UTPM_CRYPTO_NS

}  // namespace utpm::crypto
