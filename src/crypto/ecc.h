// Elliptic curves NIST P-256, P-384 and (host builds) P-521: deterministic key generation from a random stream,
// public key validation, ECDSA, ECDH (the shared point Z), and point multiply / add for the
// TPM's two-phase commands (Commit, EC-Schnorr, ECDAA), and scalar arithmetic mod n.
//
// Scalars and coordinates are big-endian, left-padded to the curve's coordinate size
// ecc_bytes(curve), and occupy the first ecc_bytes(curve) octets of the fixed arrays.
// Key generation (scalar derivation) is in common: same stream -> same key on any backend.
// BN-P256 is not offered: neither library implements it.
#pragma once

#include <type_traits>

#include "crypto/crypto.h"
#include "crypto/drbg.h"

namespace utpm::crypto {

enum class EccCurve : uint16_t {  // TPM_ECC_CURVE values
  nist_p256 = 0x0003,
  nist_p384 = 0x0004,
  nist_p521 = 0x0005,
};
// The largest curve a build carries: 521 bits on the host, 384 in firmware (which sets it),
// so that EccPoint/EccScalar stay small there.
#ifndef UTPM_CRYPTO_MAX_ECC_BITS
#define UTPM_CRYPTO_MAX_ECC_BITS 521
#endif
inline constexpr size_t kMaxEccBytes = (UTPM_CRYPTO_MAX_ECC_BITS + 7) / 8;

// Octets of a coordinate or scalar; 0 for a curve this build does not carry.
constexpr size_t ecc_bytes(EccCurve c) {
  size_t n = 0;
  switch (c) {
    case EccCurve::nist_p256: n = 32; break;
    case EccCurve::nist_p384: n = 48; break;
    case EccCurve::nist_p521: n = 66; break;
  }
  return n <= kMaxEccBytes ? n : 0;
}

struct EccPoint {
  uint8_t x[kMaxEccBytes];
  uint8_t y[kMaxEccBytes];
};
struct EccScalar {
  uint8_t d[kMaxEccBytes];
};
static_assert(std::is_trivially_copyable_v<EccPoint>);

inline namespace UTPM_CRYPTO_NS {

// ---- backend ----
// On the curve and not the point at infinity (the NIST curves have cofactor 1).
Status ecc_validate_point(EccCurve curve, const EccPoint& p);
// out = k * p (p == nullptr: the generator). k must be in [1, n-1]; p is validated first.
// bad_input for an invalid point or scalar; a result at infinity is also bad_input.
Status ecc_point_mul(EccCurve curve, const EccScalar& k, const EccPoint* p, EccPoint& out);
// out = a + b (both validated); infinity -> bad_input.
Status ecc_point_add(EccCurve curve, const EccPoint& a, const EccPoint& b, EccPoint& out);
// ECDSA over a digest of any size (truncated to the order's size as FIPS 186 says).
// rng supplies the per-signature secret where the library takes one from the caller.
Status ecdsa_sign(EccCurve curve, const EccScalar& d, Bytes digest, RandomSource rng,
                  MutBytes r, MutBytes s);
Status ecdsa_verify(EccCurve curve, const EccPoint& q, Bytes digest, Bytes r, Bytes s);
// Scalar arithmetic mod the group order n (EC-Schnorr, ECDAA, commit values):
// out = (a + b * c) mod n, with a, b, c big-endian unsigned integers of any length up to
// kMaxScalarOperand octets (an empty span is zero). The result may be zero.
inline constexpr size_t kMaxScalarOperand = 2 * kMaxEccBytes + 16;
Status ecc_scalar_muladd(EccCurve curve, Bytes a, Bytes b, Bytes c, EccScalar& out);
// out = v mod p, p the curve's field prime: a coordinate from any value of up to
// kMaxScalarOperand octets (TPM2_Commit's x2 = H(s2) mod p). out.size() == ecc_bytes(curve).
Status ecc_field_reduce(EccCurve curve, Bytes v, MutBytes out);

// ---- common ----
// FIPS 186-4 B.4.2 (testing candidates): c = ecc_bytes fresh bytes from rng, retried while
// c > n - 2; d = c + 1. Then q = d * G.
Status ecc_generate(EccCurve curve, RandomSource rng, EccScalar& d, EccPoint& q);
// ECDH: Z = d * peer (peer validated). The TPM uses Z.x as the shared secret.
Status ecdh_z(EccCurve curve, const EccScalar& d, const EccPoint& peer, EccPoint& z);
// True if 1 <= k <= n - 1.
bool ecc_scalar_valid(EccCurve curve, const EccScalar& k);
// The group order n, big-endian, ecc_bytes(curve) octets (empty for an unknown curve).
Bytes ecc_order(EccCurve curve);

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
