// OpenSSL backend: EC point arithmetic and ECDSA through the EC_GROUP / EC_POINT / ECDSA_SIG
// interfaces, which take raw coordinates and scalars without DER round trips and use
// OpenSSL's optimised constant-time P-256 (nistz256) and P-384 code.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>

#include "crypto/ecc.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

int nid_of(EccCurve c) {
  switch (c) {
    case EccCurve::nist_p256: return NID_X9_62_prime256v1;
    case EccCurve::nist_p384: return NID_secp384r1;
    case EccCurve::nist_p521: return NID_secp521r1;
  }
  return NID_undef;
}

// Per-thread group cache: building an EC_GROUP costs about as much as a P-256 signature, and
// groups are immutable once built. Freed when the thread exits.
struct GroupCache {
  EC_GROUP* p256 = nullptr;
  EC_GROUP* p384 = nullptr;
  EC_GROUP* p521 = nullptr;
  GroupCache() = default;
  GroupCache(const GroupCache&) = delete;
  GroupCache& operator=(const GroupCache&) = delete;
  ~GroupCache() {
    EC_GROUP_free(p256);
    EC_GROUP_free(p384);
    EC_GROUP_free(p521);
  }
};

const EC_GROUP* group_of(EccCurve c) {
  thread_local GroupCache cache;
  EC_GROUP** slot = c == EccCurve::nist_p256 ? &cache.p256
                    : c == EccCurve::nist_p384 ? &cache.p384
                    : c == EccCurve::nist_p521 ? &cache.p521
                                               : nullptr;
  if (slot == nullptr || ecc_bytes(c) == 0) return nullptr;
  if (*slot == nullptr) *slot = EC_GROUP_new_by_curve_name(nid_of(c));
  return *slot;
}

// One call's worth of OpenSSL temporaries.
struct Scope {
  BN_CTX* ctx = BN_CTX_new();
  Scope() { BN_CTX_start(ctx); }
  ~Scope() {
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  BIGNUM* get() { return BN_CTX_get(ctx); }
};

struct Point {
  EC_POINT* p;
  explicit Point(const EC_GROUP* g) : p(EC_POINT_new(g)) {}
  ~Point() { EC_POINT_clear_free(p); }
  Point(const Point&) = delete;
  Point& operator=(const Point&) = delete;
};

// Loads and validates (coordinates below p, on the curve, not infinity).
bool load_point(const EC_GROUP* g, EccCurve c, const EccPoint& in, EC_POINT* out, Scope& s) {
  const int len = static_cast<int>(ecc_bytes(c));
  BIGNUM* x = s.get();
  BIGNUM* y = s.get();
  BIGNUM* p = s.get();
  if (p == nullptr || !BN_bin2bn(in.x, len, x) || !BN_bin2bn(in.y, len, y) ||
      EC_GROUP_get_curve(g, p, nullptr, nullptr, s.ctx) != 1) {
    return false;
  }
  if (BN_cmp(x, p) >= 0 || BN_cmp(y, p) >= 0) return false;
  return EC_POINT_set_affine_coordinates(g, out, x, y, s.ctx) == 1 &&
         EC_POINT_is_on_curve(g, out, s.ctx) == 1 && EC_POINT_is_at_infinity(g, out) == 0;
}

Status store_point(const EC_GROUP* g, EccCurve c, const EC_POINT* in, EccPoint& out, Scope& s) {
  if (EC_POINT_is_at_infinity(g, in) == 1) return Status::bad_input;
  const int len = static_cast<int>(ecc_bytes(c));
  BIGNUM* x = s.get();
  BIGNUM* y = s.get();
  if (y == nullptr || EC_POINT_get_affine_coordinates(g, in, x, y, s.ctx) != 1) {
    return Status::failure;
  }
  out = EccPoint{};
  return BN_bn2binpad(x, out.x, len) == len && BN_bn2binpad(y, out.y, len) == len
             ? Status::ok
             : Status::failure;
}

}  // namespace

Status ecc_validate_point(EccCurve curve, const EccPoint& pt) {
  const EC_GROUP* g = group_of(curve);
  if (g == nullptr) return Status::unsupported;
  Scope s;
  Point p(g);
  return p.p != nullptr && load_point(g, curve, pt, p.p, s) ? Status::ok : Status::bad_input;
}

Status ecc_point_mul(EccCurve curve, const EccScalar& k, const EccPoint* pt, EccPoint& out) {
  const EC_GROUP* g = group_of(curve);
  if (g == nullptr) return Status::unsupported;
  if (!ecc_scalar_valid(curve, k)) return Status::bad_input;
  Scope s;
  BIGNUM* kb = s.get();
  if (kb == nullptr) return Status::failure;
  BN_set_flags(kb, BN_FLG_CONSTTIME);
  if (!BN_bin2bn(k.d, static_cast<int>(ecc_bytes(curve)), kb)) return Status::failure;
  Point in(g), res(g);
  if (in.p == nullptr || res.p == nullptr) return Status::failure;
  int ok;
  if (pt == nullptr) {
    ok = EC_POINT_mul(g, res.p, kb, nullptr, nullptr, s.ctx);
  } else {
    if (!load_point(g, curve, *pt, in.p, s)) {
      BN_clear(kb);
      return Status::bad_input;
    }
    ok = EC_POINT_mul(g, res.p, nullptr, in.p, kb, s.ctx);
  }
  BN_clear(kb);
  return ok == 1 ? store_point(g, curve, res.p, out, s) : Status::failure;
}

Status ecc_point_add(EccCurve curve, const EccPoint& a, const EccPoint& b, EccPoint& out) {
  const EC_GROUP* g = group_of(curve);
  if (g == nullptr) return Status::unsupported;
  Scope s;
  Point pa(g), pb(g), r(g);
  if (r.p == nullptr) return Status::failure;
  if (!load_point(g, curve, a, pa.p, s) || !load_point(g, curve, b, pb.p, s)) {
    return Status::bad_input;
  }
  if (EC_POINT_add(g, r.p, pa.p, pb.p, s.ctx) != 1) return Status::failure;
  return store_point(g, curve, r.p, out, s);
}

Status ecdsa_sign(EccCurve curve, const EccScalar& d, Bytes digest, RandomSource rng, MutBytes r,
                  MutBytes s_out) {
  (void)rng;  // OpenSSL draws the nonce from its own DRBG (mixed with the key and digest)
  const EC_GROUP* g = group_of(curve);
  if (g == nullptr) return Status::unsupported;
  const size_t len = ecc_bytes(curve);
  if (!ecc_scalar_valid(curve, d) || digest.empty() || r.size() != len || s_out.size() != len) {
    return Status::bad_input;
  }
  EC_KEY* key = EC_KEY_new();
  BIGNUM* db = BN_secure_new();
  ECDSA_SIG* sig = nullptr;
  Status st = Status::failure;
  if (key != nullptr && db != nullptr && EC_KEY_set_group(key, g) == 1 &&
      BN_bin2bn(d.d, static_cast<int>(len), db) && EC_KEY_set_private_key(key, db) == 1) {
    sig = ECDSA_do_sign(digest.data(), static_cast<int>(digest.size()), key);
  }
  if (sig != nullptr) {
    const BIGNUM* rb = ECDSA_SIG_get0_r(sig);
    const BIGNUM* sb = ECDSA_SIG_get0_s(sig);
    if (BN_bn2binpad(rb, r.data(), static_cast<int>(len)) == static_cast<int>(len) &&
        BN_bn2binpad(sb, s_out.data(), static_cast<int>(len)) == static_cast<int>(len)) {
      st = Status::ok;
    }
  }
  ECDSA_SIG_free(sig);
  BN_clear_free(db);
  EC_KEY_free(key);
  return st;
}

Status ecdsa_verify(EccCurve curve, const EccPoint& q, Bytes digest, Bytes r, Bytes s_in) {
  const EC_GROUP* g = group_of(curve);
  if (g == nullptr) return Status::unsupported;
  const size_t len = ecc_bytes(curve);
  if (digest.empty() || r.empty() || s_in.empty() || r.size() > len || s_in.size() > len) {
    return Status::verify_failed;
  }
  Scope s;
  Point pq(g);
  if (pq.p == nullptr || !load_point(g, curve, q, pq.p, s)) return Status::bad_input;
  EC_KEY* key = EC_KEY_new();
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* rb = BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr);
  BIGNUM* sb = BN_bin2bn(s_in.data(), static_cast<int>(s_in.size()), nullptr);
  int v = -1;
  if (key != nullptr && sig != nullptr && rb != nullptr && sb != nullptr &&
      EC_KEY_set_group(key, g) == 1 && EC_KEY_set_public_key(key, pq.p) == 1 &&
      ECDSA_SIG_set0(sig, rb, sb) == 1) {
    rb = sb = nullptr;  // owned by sig now
    v = ECDSA_do_verify(digest.data(), static_cast<int>(digest.size()), sig, key);
  }
  BN_free(rb);
  BN_free(sb);
  ECDSA_SIG_free(sig);
  EC_KEY_free(key);
  // 0 is a wrong signature, -1 a malformed one (e.g. r or s out of range): both just fail.
  return v == 1 ? Status::ok : Status::verify_failed;
}

Status ecc_scalar_muladd(EccCurve curve, Bytes a, Bytes b, Bytes c, EccScalar& out) {
  const EC_GROUP* g = group_of(curve);
  if (g == nullptr) return Status::unsupported;
  if (a.size() > kMaxScalarOperand || b.size() > kMaxScalarOperand || c.size() > kMaxScalarOperand) {
    return Status::bad_input;
  }
  Scope s;
  BIGNUM* ba = s.get();
  BIGNUM* bb = s.get();
  BIGNUM* bc = s.get();
  BIGNUM* t = s.get();
  if (t == nullptr) return Status::failure;
  for (BIGNUM* v : {ba, bb, bc, t}) BN_set_flags(v, BN_FLG_CONSTTIME);
  const BIGNUM* n = EC_GROUP_get0_order(g);
  const int len = static_cast<int>(ecc_bytes(curve));
  out = EccScalar{};
  const bool ok = BN_bin2bn(a.data(), static_cast<int>(a.size()), ba) &&
                  BN_bin2bn(b.data(), static_cast<int>(b.size()), bb) &&
                  BN_bin2bn(c.data(), static_cast<int>(c.size()), bc) && BN_nnmod(ba, ba, n, s.ctx) &&
                  BN_mod_mul(t, bb, bc, n, s.ctx) && BN_mod_add(t, t, ba, n, s.ctx) &&
                  BN_bn2binpad(t, out.d, len) == len;
  for (BIGNUM* v : {ba, bb, bc, t}) BN_clear(v);
  return ok ? Status::ok : Status::failure;
}

Status ecc_field_reduce(EccCurve curve, Bytes v, MutBytes out) {
  const EC_GROUP* g = group_of(curve);
  if (g == nullptr) return Status::unsupported;
  const int len = static_cast<int>(ecc_bytes(curve));
  if (v.size() > kMaxScalarOperand || out.size() != static_cast<size_t>(len)) return Status::bad_input;
  Scope s;
  BIGNUM* p = s.get();
  BIGNUM* x = s.get();
  if (x == nullptr) return Status::failure;
  return EC_GROUP_get_curve(g, p, nullptr, nullptr, s.ctx) == 1 &&
                 BN_bin2bn(v.data(), static_cast<int>(v.size()), x) && BN_nnmod(x, x, p, s.ctx) &&
                 BN_bn2binpad(x, out.data(), len) == len
             ? Status::ok
             : Status::failure;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
