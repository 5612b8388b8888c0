// ECC key derivation from a stream (FIPS 186-4 B.4.2), scalar range checks and ECDH, on the
// backend's point multiplication.
#include "crypto/ecc.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

// Group orders n (FIPS 186-4 D.1.2.3, D.1.2.4 and D.1.2.5).
constexpr uint8_t kP256Order[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
constexpr uint8_t kP384Order[48] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37, 0x2D, 0xDF,
    0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73};

constexpr uint8_t kP521Order[66] = {0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09};

const uint8_t* order(EccCurve c) {
  if (ecc_bytes(c) == 0) return nullptr;  // not carried by this build
  switch (c) {
    case EccCurve::nist_p256: return kP256Order;
    case EccCurve::nist_p384: return kP384Order;
    case EccCurve::nist_p521: return kP521Order;
  }
  return nullptr;
}

// The mask of a candidate's first octet: a candidate has the bit length of n (FIPS 186-4
// B.4.2), so P-521's 66-octet candidates keep 1 bit of the first octet.
uint8_t first_octet_mask(const uint8_t* n) {
  uint8_t m = 0;
  for (uint8_t top = n[0]; top != 0; top >>= 1) m = static_cast<uint8_t>(m << 1 | 1);
  return m;
}

// Constant-time a < b for equal-length big-endian numbers (the scalar may be secret).
bool ct_less(const uint8_t* a, const uint8_t* b, size_t n) {
  unsigned lt = 0, decided = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned x = a[i], y = b[i];
    const unsigned is_lt = (x - y) >> 8 & 1u;  // borrow: x < y
    const unsigned is_gt = (y - x) >> 8 & 1u;
    lt |= is_lt & ~decided;
    decided |= is_lt | is_gt;
  }
  return (lt & 1u) != 0;
}

}  // namespace

Bytes ecc_order(EccCurve curve) {
  const uint8_t* n = order(curve);
  return n == nullptr ? Bytes{} : Bytes(n, ecc_bytes(curve));
}

bool ecc_scalar_valid(EccCurve curve, const EccScalar& k) {
  const uint8_t* n = order(curve);
  if (n == nullptr) return false;
  const size_t len = ecc_bytes(curve);
  uint8_t any = 0;
  for (size_t i = 0; i < len; ++i) any |= k.d[i];
  return any != 0 && ct_less(k.d, n, len);
}

Status ecc_generate(EccCurve curve, RandomSource rng, EccScalar& d, EccPoint& q) {
  const uint8_t* n = order(curve);
  if (n == nullptr) return Status::unsupported;
  const size_t len = ecc_bytes(curve);
  // n - 1: candidates c must satisfy c <= n - 2, i.e. c < n - 1.
  uint8_t n_minus_1[kMaxEccBytes];
  for (size_t i = 0; i < len; ++i) n_minus_1[i] = n[i];
  n_minus_1[len - 1] = static_cast<uint8_t>(n_minus_1[len - 1] - 1);  // n is odd: no borrow
  d = EccScalar{};
  // For the NIST curves a candidate is rejected with probability < 2^-32; 64 tries failing
  // means a broken stream.
  const uint8_t mask = first_octet_mask(n);
  for (int tries = 0; tries < 64; ++tries) {
    const Status s = rng(MutBytes(d.d, len));
    if (s != Status::ok) return s;
    d.d[0] &= mask;
    if (!ct_less(d.d, n_minus_1, len)) continue;
    // d = c + 1 (cannot overflow: c < n - 1).
    for (size_t i = len; i-- > 0;) {
      if (++d.d[i] != 0) break;
    }
    const Status m = ecc_point_mul(curve, d, nullptr, q);
    if (m != Status::ok) zeroize(d);
    return m;
  }
  zeroize(d);
  return Status::failure;
}

Status ecdh_z(EccCurve curve, const EccScalar& d, const EccPoint& peer, EccPoint& z) {
  return ecc_point_mul(curve, d, &peer, z);
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
