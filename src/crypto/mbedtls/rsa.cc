// mbedTLS backend: RSA number theory and raw operations (padding is ours, common/rsa.cc).
#include <mbedtls/bignum.h>
#include <mbedtls/rsa.h>

#include "crypto/rsa.h"
#include "rng_adapter.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

// RAII for a set of MPIs.
template <size_t N>
struct Mpis {
  mbedtls_mpi v[N];
  Mpis() {
    for (auto& m : v) mbedtls_mpi_init(&m);
  }
  ~Mpis() {
    for (auto& m : v) mbedtls_mpi_free(&m);  // mbedtls_mpi_free wipes the limbs
  }
  Mpis(const Mpis&) = delete;
  Mpis& operator=(const Mpis&) = delete;
  mbedtls_mpi* operator[](size_t i) { return &v[i]; }
};

int miller_rabin_rounds(size_t bits) {
  // FIPS 186-4 Table C.3 (error <= 2^-100 for random candidates).
  if (bits >= 1536) return 4;
  if (bits >= 1024) return 5;
  return 7;
}

struct RsaCtx {
  mbedtls_rsa_context ctx;
  RsaCtx() { mbedtls_rsa_init(&ctx, MBEDTLS_RSA_PKCS_V15, 0); }
  ~RsaCtx() { mbedtls_rsa_free(&ctx); }
  RsaCtx(const RsaCtx&) = delete;
  RsaCtx& operator=(const RsaCtx&) = delete;
};

// Loads our fixed layout into an mbedTLS context. The CRT values go straight into the
// context fields (public in 2.28), so nothing is recomputed per operation.
bool load(RsaCtx& r, const RsaPublicKey& pub, const RsaPrivateKey* priv) {
  const size_t k = rsa_bytes(pub);
  mbedtls_rsa_context& c = r.ctx;
  if (mbedtls_mpi_read_binary(&c.N, pub.n, k) != 0 ||
      mbedtls_mpi_lset(&c.E, static_cast<mbedtls_mpi_sint>(rsa_exponent(pub))) != 0) {
    return false;
  }
  c.len = mbedtls_mpi_size(&c.N);
  if (c.len != k) return false;
  if (priv == nullptr) return true;
  const size_t h = k / 2;
  return mbedtls_mpi_read_binary(&c.P, priv->p, h) == 0 &&
         mbedtls_mpi_read_binary(&c.Q, priv->q, h) == 0 &&
         mbedtls_mpi_read_binary(&c.DP, priv->dp, h) == 0 &&
         mbedtls_mpi_read_binary(&c.DQ, priv->dq, h) == 0 &&
         mbedtls_mpi_read_binary(&c.QP, priv->qinv, h) == 0;
}

}  // namespace

bool rsa_prime_acceptable(Bytes c, uint32_t e) {
  Mpis<3> m;
  if (mbedtls_mpi_read_binary(m[0], c.data(), c.size()) != 0) return false;
  // Miller-Rabin bases come from a DRBG seeded by the candidate itself: the verdict must
  // not consume the caller's key-derivation stream, and the bases need no secrecy here.
  DeterministicRng bases(c);
  if (mbedtls_mpi_is_prime_ext(m[0], miller_rabin_rounds(c.size() * 8), &DeterministicRng::fill,
                               &bases) != 0) {
    return false;
  }
  return mbedtls_mpi_sub_int(m[1], m[0], 1) == 0 &&
         mbedtls_mpi_lset(m[2], static_cast<mbedtls_mpi_sint>(e)) == 0 &&
         mbedtls_mpi_gcd(m[2], m[2], m[1]) == 0 && mbedtls_mpi_cmp_int(m[2], 1) == 0;
}

Status rsa_key_from_primes(Bytes p_in, Bytes q_in, uint32_t exponent, uint16_t bits,
                           RsaPrivateKey& out) {
  if (!rsa_bits_supported(bits) || p_in.size() != bits / 16u || q_in.size() != bits / 16u)
    return Status::bad_input;
  // Every byte defined (padding and the unused tails included), so keys compare and hash as
  // bytes.
  zeroize(out);
  const uint32_t e_word = exponent == 0 ? kRsaDefaultExponent : exponent;
  enum { P, Q, N, E, P1, Q1, DP, DQ, QI };
  Mpis<9> m;
  if (mbedtls_mpi_read_binary(m[P], p_in.data(), p_in.size()) != 0 ||
      mbedtls_mpi_read_binary(m[Q], q_in.data(), q_in.size()) != 0) {
    return Status::failure;
  }
  if (mbedtls_mpi_cmp_mpi(m[P], m[Q]) < 0) mbedtls_mpi_swap(m[P], m[Q]);
  if (mbedtls_mpi_cmp_mpi(m[P], m[Q]) == 0) return Status::bad_input;
  const size_t h = bits / 16u;
  const bool ok =
      mbedtls_mpi_lset(m[E], static_cast<mbedtls_mpi_sint>(e_word)) == 0 &&
      mbedtls_mpi_mul_mpi(m[N], m[P], m[Q]) == 0 && mbedtls_mpi_bitlen(m[N]) == bits &&
      mbedtls_mpi_sub_int(m[P1], m[P], 1) == 0 && mbedtls_mpi_sub_int(m[Q1], m[Q], 1) == 0 &&
      mbedtls_mpi_inv_mod(m[DP], m[E], m[P1]) == 0 &&
      mbedtls_mpi_inv_mod(m[DQ], m[E], m[Q1]) == 0 &&
      mbedtls_mpi_inv_mod(m[QI], m[Q], m[P]) == 0 &&
      mbedtls_mpi_write_binary(m[N], out.pub.n, 2 * h) == 0 &&
      mbedtls_mpi_write_binary(m[P], out.p, h) == 0 &&
      mbedtls_mpi_write_binary(m[Q], out.q, h) == 0 &&
      mbedtls_mpi_write_binary(m[DP], out.dp, h) == 0 &&
      mbedtls_mpi_write_binary(m[DQ], out.dq, h) == 0 &&
      mbedtls_mpi_write_binary(m[QI], out.qinv, h) == 0;
  if (!ok) {
    zeroize(out);
    return Status::bad_input;
  }
  out.pub.bits = bits;
  out.pub.exponent = exponent;
  return Status::ok;
}

Status rsa_key_from_prime(const RsaPublicKey& pub, Bytes prime, RsaPrivateKey& out) {
  if (!rsa_bits_supported(pub.bits)) return Status::bad_input;
  const size_t h = pub.bits / 16u;
  if (prime.size() > h) return Status::bad_input;
  enum { N, P, Q, R };
  Mpis<4> m;
  if (mbedtls_mpi_read_binary(m[N], pub.n, 2 * h) != 0 ||
      mbedtls_mpi_read_binary(m[P], prime.data(), prime.size()) != 0) {
    return Status::failure;
  }
  if (mbedtls_mpi_cmp_int(m[P], 1) <= 0 || mbedtls_mpi_div_mpi(m[Q], m[R], m[N], m[P]) != 0 ||
      mbedtls_mpi_cmp_int(m[R], 0) != 0 || mbedtls_mpi_size(m[P]) != h ||
      mbedtls_mpi_size(m[Q]) != h) {
    return Status::bad_input;
  }
  uint8_t pb[kMaxRsaPrimeBytes], qb[kMaxRsaPrimeBytes];
  Status st = mbedtls_mpi_write_binary(m[P], pb, h) == 0 && mbedtls_mpi_write_binary(m[Q], qb, h) == 0
                  ? rsa_key_from_primes(Bytes(pb, h), Bytes(qb, h), pub.exponent, pub.bits, out)
                  : Status::failure;
  zeroize(pb);
  zeroize(qb);
  if (st == Status::ok && !ct_equal(Bytes(out.pub.n, 2 * h), Bytes(pub.n, 2 * h))) {
    zeroize(out);
    st = Status::bad_input;
  }
  return st;
}

Status rsa_public_raw(const RsaPublicKey& key, Bytes in, MutBytes out) {
  if (!rsa_bits_supported(key.bits)) return Status::bad_input;
  const size_t k = rsa_bytes(key);
  if (in.size() != k || out.size() != k) return Status::bad_input;
  RsaCtx r;
  if (!load(r, key, nullptr)) return Status::bad_input;
  // mbedtls_rsa_public rejects in >= n.
  return mbedtls_rsa_public(&r.ctx, in.data(), out.data()) == 0 ? Status::ok : Status::bad_input;
}

Status rsa_private_raw(const RsaPrivateKey& key, Bytes in, MutBytes out, RandomSource rng) {
  if (!rsa_bits_supported(key.pub.bits) || rng.fill == nullptr) return Status::bad_input;
  const size_t k = rsa_bytes(key.pub);
  if (in.size() != k || out.size() != k) return Status::bad_input;
  RsaCtx r;
  if (!load(r, key.pub, &key)) return Status::bad_input;
  const int rc = mbedtls_rsa_private(&r.ctx, &rng_adapter, &rng, in.data(), out.data());
  return rc == 0 ? Status::ok : Status::bad_input;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
