// RSA: key generation driven by a caller-supplied random stream (deterministic for primary
// keys), raw operations, and the PKCS #1 v2.2 schemes the TPM uses.
//
// Split of work: the backend supplies only the number theory (primality, key completion from
// primes, raw modular exponentiation); the prime search and every padding scheme are in
// src/crypto/common, so a given stream yields the same key, and a given RNG the same
// ciphertext/signature, on both backends.
//
// TPM conventions: OAEP labels are used exactly as given; the TPM's own labels ("DUPLICATE",
// "SECRET", ...) include their terminating zero octet, and TPM2_RSA_Encrypt/Decrypt require a
// caller label to be zero-terminated (the engine checks that, not this layer). An exponent of
// 0 means the default 65537, as in TPMS_RSA_PARMS.
#pragma once

#include <type_traits>

#include "crypto/crypto.h"
#include "crypto/drbg.h"

#ifndef UTPM_CRYPTO_MAX_RSA_BITS
#define UTPM_CRYPTO_MAX_RSA_BITS 4096  // firmware builds set 2048
#endif

namespace utpm::crypto {

inline constexpr size_t kMaxRsaBits = UTPM_CRYPTO_MAX_RSA_BITS;
inline constexpr size_t kMaxRsaBytes = kMaxRsaBits / 8;
inline constexpr size_t kMaxRsaPrimeBytes = kMaxRsaBytes / 2;
inline constexpr uint32_t kRsaDefaultExponent = 65537;

// All integers big-endian, left-padded to their fixed size: the modulus to bits/8 bytes,
// the CRT values to bits/16 bytes.
struct RsaPublicKey {
  uint16_t bits;      // 1024, 2048, 3072 or 4096 (not above kMaxRsaBits)
  uint32_t exponent;  // 0 = 65537
  uint8_t n[kMaxRsaBytes];
};
struct RsaPrivateKey {
  RsaPublicKey pub;
  uint8_t p[kMaxRsaPrimeBytes];    // p > q
  uint8_t q[kMaxRsaPrimeBytes];
  uint8_t dp[kMaxRsaPrimeBytes];   // e^-1 mod (p-1)
  uint8_t dq[kMaxRsaPrimeBytes];   // e^-1 mod (q-1)
  uint8_t qinv[kMaxRsaPrimeBytes]; // q^-1 mod p
};
static_assert(std::is_trivially_copyable_v<RsaPrivateKey>);

enum class RsaScheme : uint16_t {  // TPM_ALG_ID values
  rsassa = 0x0014,  // RSASSA-PKCS1-v1_5
  rsaes = 0x0015,   // RSAES-PKCS1-v1_5
  rsapss = 0x0016,  // RSASSA-PSS
  oaep = 0x0017,    // RSAES-OAEP
  null = 0x0010,    // raw RSA (TPM_ALG_NULL)
};

constexpr size_t rsa_bytes(const RsaPublicKey& k) { return k.bits / 8u; }
constexpr uint32_t rsa_exponent(const RsaPublicKey& k) {
  return k.exponent == 0 ? kRsaDefaultExponent : k.exponent;
}
constexpr bool rsa_bits_supported(uint32_t bits) {
  return (bits == 1024 || bits == 2048 || bits == 3072 || bits == 4096) && bits <= kMaxRsaBits;
}

inline namespace UTPM_CRYPTO_NS {

// ---- backend primitives ----
// True if c (big-endian, top bit set) is a probable prime (error probability below 2^-100)
// and gcd(e, c - 1) == 1.
bool rsa_prime_acceptable(Bytes c, uint32_t e);
// Both verdicts of rsa_prime_acceptable at once (ok[0] for c1, ok[1] for c2). Only backends
// built with UTPM_RSA_PAIRED_PRIME_TEST have it (OpenSSL: a two-way exponentiation).
void rsa_prime_acceptable2(Bytes c1, Bytes c2, uint32_t e, bool (&ok)[2]);
// Completes a private key from two primes of bits/16 bytes each (any order).
Status rsa_key_from_primes(Bytes p, Bytes q, uint32_t exponent, uint16_t bits, RsaPrivateKey& out);
// Rebuilds the private key from the public key and one prime, which is all a TPM stores.
Status rsa_key_from_prime(const RsaPublicKey& pub, Bytes prime, RsaPrivateKey& out);
// m^e mod n: in.size() == out.size() == bits/8 and in < n (else bad_input).
Status rsa_public_raw(const RsaPublicKey& key, Bytes in, MutBytes out);
// c^d mod n (CRT, blinded; rng feeds the blinding where the library asks for it).
Status rsa_private_raw(const RsaPrivateKey& key, Bytes in, MutBytes out, RandomSource rng);

// ---- common ----
// FIPS 186-4 B.3.3-style generation from rng: each prime candidate is bits/2 fresh bits from
// rng with the two top bits and the low bit set; candidates failing rsa_prime_acceptable are
// discarded; |p - q| must exceed 2^(bits/2 - 100). Same stream -> same key on any backend.
Status rsa_generate(uint16_t bits, uint32_t exponent, RandomSource rng, RsaPrivateKey& out);

// Encryption: out.size() == bits/8. label only for OAEP. rng supplies the OAEP seed /
// PKCS#1 v1.5 padding octets.
Status rsa_encrypt(RsaScheme scheme, HashAlg hash, Bytes label, const RsaPublicKey& key,
                   Bytes msg, RandomSource rng, MutBytes out);
// Decryption: writes the message to out and its size to *out_size. Every padding failure is
// verify_failed with no detail about which check failed.
Status rsa_decrypt(RsaScheme scheme, HashAlg hash, Bytes label, const RsaPrivateKey& key,
                   Bytes in, RandomSource rng, MutBytes out, size_t* out_size);
// Signing a digest (digest.size() == digest_size(hash)). PSS uses the TPM's salt length:
// the digest size, or less if the modulus is too small. sig.size() == bits/8.
Status rsa_sign(RsaScheme scheme, HashAlg hash, const RsaPrivateKey& key, Bytes digest,
                RandomSource rng, MutBytes sig);
// PSS verification accepts any salt length (the TPM verifies signatures made elsewhere).
Status rsa_verify(RsaScheme scheme, HashAlg hash, const RsaPublicKey& key, Bytes digest,
                  Bytes sig);

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
