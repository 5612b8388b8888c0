// mbedTLS backend: EC point arithmetic and ECDSA.
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>

#include "crypto/ecc.h"
#include "rng_adapter.h"
#include "shared_groups.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

mbedtls_ecp_group_id id_of(EccCurve c) {
  switch (c) {
    case EccCurve::nist_p256: return MBEDTLS_ECP_DP_SECP256R1;
    case EccCurve::nist_p384: return MBEDTLS_ECP_DP_SECP384R1;
    case EccCurve::nist_p521:
#if defined(MBEDTLS_ECP_DP_SECP521R1_ENABLED)
      if (ecc_bytes(c) != 0) return MBEDTLS_ECP_DP_SECP521R1;
#endif
      return MBEDTLS_ECP_DP_NONE;
  }
  return MBEDTLS_ECP_DP_NONE;
}

#if defined(UTPM_MBEDTLS_STATIC_POOL) && MBEDTLS_ECP_FIXED_POINT_OPTIM == 1
// Firmware: P-256's group stays loaded for the life of the pool, so the comb table of its
// generator (MBEDTLS_ECP_FIXED_POINT_OPTIM) is computed by the first k*G and reused by every
// later one: key generation (CreatePrimary, Create), ECDSA signing, the u1*G half of
// verification, ECDH_KeyGen, Commit. The group and the table are public values; they cost
// ~2 KB of the pool for good (bench/mcu_options.sh measures it). P-384 is loaded per call.
// backend_init() forgets the group when it hands mbedTLS a new pool.
struct CachedGroup {
  mbedtls_ecp_group grp;
  bool loaded = false;
};
CachedGroup cached_p256;

mbedtls_ecp_group* shared_group(EccCurve c) {
  if (c != EccCurve::nist_p256) return nullptr;
  if (!cached_p256.loaded) {
    mbedtls_ecp_group_init(&cached_p256.grp);
    if (mbedtls_ecp_group_load(&cached_p256.grp, MBEDTLS_ECP_DP_SECP256R1) != 0) {
      mbedtls_ecp_group_free(&cached_p256.grp);
      return nullptr;
    }
    cached_p256.loaded = true;
  }
  return &cached_p256.grp;
}
#else
mbedtls_ecp_group* shared_group(EccCurve) { return nullptr; }
#endif

// The group plus the points and numbers one call needs, all released on scope exit (the
// group only when it is this call's own, not the shared one).
struct Ctx {
  mbedtls_ecp_group own;
  mbedtls_ecp_group* grp = &own;
  mbedtls_ecp_point a, b, r;
  mbedtls_mpi k, one, sr, ss;
  bool loaded = false;
  explicit Ctx(EccCurve c) {
    mbedtls_ecp_group_init(&own);
    mbedtls_ecp_point_init(&a);
    mbedtls_ecp_point_init(&b);
    mbedtls_ecp_point_init(&r);
    mbedtls_mpi_init(&k);
    mbedtls_mpi_init(&one);
    mbedtls_mpi_init(&sr);
    mbedtls_mpi_init(&ss);
    if (mbedtls_ecp_group* shared = shared_group(c)) {
      grp = shared;
      loaded = true;
      return;
    }
    const mbedtls_ecp_group_id id = id_of(c);
    loaded = id != MBEDTLS_ECP_DP_NONE && mbedtls_ecp_group_load(&own, id) == 0;
  }
  ~Ctx() {
    mbedtls_mpi_free(&ss);
    mbedtls_mpi_free(&sr);
    mbedtls_mpi_free(&one);
    mbedtls_mpi_free(&k);  // wipes
    mbedtls_ecp_point_free(&r);
    mbedtls_ecp_point_free(&b);
    mbedtls_ecp_point_free(&a);
    mbedtls_ecp_group_free(&own);
  }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
};

// Loads and validates: mbedtls_ecp_check_pubkey checks the coordinate range and the curve
// equation and rejects the point at infinity.
bool load_point(Ctx& c, EccCurve curve, const EccPoint& in, mbedtls_ecp_point& out) {
  const size_t len = ecc_bytes(curve);
  return mbedtls_mpi_read_binary(&out.X, in.x, len) == 0 &&
         mbedtls_mpi_read_binary(&out.Y, in.y, len) == 0 && mbedtls_mpi_lset(&out.Z, 1) == 0 &&
         mbedtls_ecp_check_pubkey(c.grp, &out) == 0;
}

Status store_point(Ctx& c, EccCurve curve, const mbedtls_ecp_point& in, EccPoint& out) {
  if (mbedtls_ecp_is_zero(const_cast<mbedtls_ecp_point*>(&in)) == 1) return Status::bad_input;
  (void)c;
  const size_t len = ecc_bytes(curve);
  out = EccPoint{};
  return mbedtls_mpi_write_binary(&in.X, out.x, len) == 0 &&
                 mbedtls_mpi_write_binary(&in.Y, out.y, len) == 0
             ? Status::ok
             : Status::failure;
}

}  // namespace

void ecc_forget_shared_groups() {
#if defined(UTPM_MBEDTLS_STATIC_POOL) && MBEDTLS_ECP_FIXED_POINT_OPTIM == 1
  cached_p256.loaded = false;  // its memory went with the old pool
#endif
}

void ecc_free_shared_groups() {
#if defined(UTPM_MBEDTLS_STATIC_POOL) && MBEDTLS_ECP_FIXED_POINT_OPTIM == 1
  if (cached_p256.loaded) mbedtls_ecp_group_free(&cached_p256.grp);
  cached_p256.loaded = false;
#endif
}

Status ecc_validate_point(EccCurve curve, const EccPoint& pt) {
  Ctx c(curve);
  if (!c.loaded) return Status::unsupported;
  return load_point(c, curve, pt, c.a) ? Status::ok : Status::bad_input;
}

Status ecc_point_mul(EccCurve curve, const EccScalar& k, const EccPoint* pt, EccPoint& out) {
  Ctx c(curve);
  if (!c.loaded) return Status::unsupported;
  if (!ecc_scalar_valid(curve, k)) return Status::bad_input;
  if (mbedtls_mpi_read_binary(&c.k, k.d, ecc_bytes(curve)) != 0) return Status::failure;
  if (pt != nullptr && !load_point(c, curve, *pt, c.a)) return Status::bad_input;
  // Blinding randomness from a DRBG seeded by the secret scalar and the point (what mbedTLS's
  // internal RNG would do; the firmware config drops that RNG, MBEDTLS_ECP_NO_INTERNAL_RNG).
  // It is unpredictable to anyone without the scalar and consumes no caller stream.
  uint8_t seed_material[3 * kMaxEccBytes];
  const size_t len = ecc_bytes(curve);
  for (size_t i = 0; i < len; ++i) {
    seed_material[i] = k.d[i];
    seed_material[len + i] = pt != nullptr ? pt->x[i] : 0;
    seed_material[2 * len + i] = pt != nullptr ? pt->y[i] : 0;
  }
  DeterministicRng blinding(Bytes(seed_material, 3 * len));
  zeroize(seed_material);
  const int rc = mbedtls_ecp_mul(c.grp, &c.r, &c.k, pt != nullptr ? &c.a : &c.grp->G,
                                 &DeterministicRng::fill, &blinding);
  return rc == 0 ? store_point(c, curve, c.r, out) : Status::failure;
}

Status ecc_point_add(EccCurve curve, const EccPoint& a, const EccPoint& b, EccPoint& out) {
  Ctx c(curve);
  if (!c.loaded) return Status::unsupported;
  if (!load_point(c, curve, a, c.a) || !load_point(c, curve, b, c.b)) return Status::bad_input;
  if (mbedtls_mpi_lset(&c.one, 1) != 0 ||
      mbedtls_ecp_muladd(c.grp, &c.r, &c.one, &c.a, &c.one, &c.b) != 0) {
    return Status::failure;
  }
  return store_point(c, curve, c.r, out);
}

Status ecdsa_sign(EccCurve curve, const EccScalar& d, Bytes digest, RandomSource rng, MutBytes r,
                  MutBytes s) {
  Ctx c(curve);
  if (!c.loaded) return Status::unsupported;
  const size_t len = ecc_bytes(curve);
  if (!ecc_scalar_valid(curve, d) || digest.empty() || r.size() != len || s.size() != len ||
      rng.fill == nullptr) {
    return Status::bad_input;
  }
  if (mbedtls_mpi_read_binary(&c.k, d.d, len) != 0) return Status::failure;
  const int rc = mbedtls_ecdsa_sign(c.grp, &c.sr, &c.ss, &c.k, digest.data(), digest.size(),
                                    &rng_adapter, &rng);
  if (rc != 0) return Status::failure;
  return mbedtls_mpi_write_binary(&c.sr, r.data(), len) == 0 &&
                 mbedtls_mpi_write_binary(&c.ss, s.data(), len) == 0
             ? Status::ok
             : Status::failure;
}

Status ecdsa_verify(EccCurve curve, const EccPoint& q, Bytes digest, Bytes r, Bytes s) {
  Ctx c(curve);
  if (!c.loaded) return Status::unsupported;
  const size_t len = ecc_bytes(curve);
  if (digest.empty() || r.empty() || s.empty() || r.size() > len || s.size() > len) {
    return Status::verify_failed;
  }
  if (!load_point(c, curve, q, c.a)) return Status::bad_input;
  if (mbedtls_mpi_read_binary(&c.sr, r.data(), r.size()) != 0 ||
      mbedtls_mpi_read_binary(&c.ss, s.data(), s.size()) != 0) {
    return Status::failure;
  }
  // Rejects r, s outside [1, n-1] as well as a wrong signature.
  return mbedtls_ecdsa_verify(c.grp, digest.data(), digest.size(), &c.a, &c.sr, &c.ss) == 0
             ? Status::ok
             : Status::verify_failed;
}

Status ecc_scalar_muladd(EccCurve curve, Bytes a, Bytes b, Bytes c, EccScalar& out) {
  if (a.size() > kMaxScalarOperand || b.size() > kMaxScalarOperand || c.size() > kMaxScalarOperand) {
    return Status::bad_input;
  }
  Ctx x(curve);
  if (!x.loaded) return Status::unsupported;
  // k, one, sr, ss are the Ctx's numbers: a, b, c and the product (all wiped by mbedtls_mpi_free).
  out = EccScalar{};
  const bool ok = mbedtls_mpi_read_binary(&x.k, a.data(), a.size()) == 0 &&
                  mbedtls_mpi_read_binary(&x.one, b.data(), b.size()) == 0 &&
                  mbedtls_mpi_read_binary(&x.sr, c.data(), c.size()) == 0 &&
                  mbedtls_mpi_mod_mpi(&x.one, &x.one, &x.grp->N) == 0 &&
                  mbedtls_mpi_mod_mpi(&x.sr, &x.sr, &x.grp->N) == 0 &&
                  mbedtls_mpi_mul_mpi(&x.ss, &x.one, &x.sr) == 0 &&
                  mbedtls_mpi_add_mpi(&x.ss, &x.ss, &x.k) == 0 &&
                  mbedtls_mpi_mod_mpi(&x.ss, &x.ss, &x.grp->N) == 0 &&
                  mbedtls_mpi_write_binary(&x.ss, out.d, ecc_bytes(curve)) == 0;
  return ok ? Status::ok : Status::failure;
}

Status ecc_field_reduce(EccCurve curve, Bytes v, MutBytes out) {
  if (v.size() > kMaxScalarOperand || out.size() != ecc_bytes(curve)) return Status::bad_input;
  Ctx x(curve);
  if (!x.loaded) return Status::unsupported;
  return mbedtls_mpi_read_binary(&x.k, v.data(), v.size()) == 0 &&
                 mbedtls_mpi_mod_mpi(&x.k, &x.k, &x.grp->P) == 0 &&
                 mbedtls_mpi_write_binary(&x.k, out.data(), out.size()) == 0
             ? Status::ok
             : Status::failure;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
