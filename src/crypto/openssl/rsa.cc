// OpenSSL backend: RSA number theory and raw operations. The low-level RSA object is used
// because it takes CRT components directly and runs OpenSSL's blinded, constant-time CRT
// exponentiation; padding is ours (common/rsa.cc).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/bn.h>
#include <openssl/rsa.h>

#include "crypto/rsa.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

// Owns the BN_CTX and a few temporaries for one call.
struct BnScope {
  BN_CTX* ctx = BN_CTX_new();
  BnScope() { BN_CTX_start(ctx); }
  ~BnScope() {
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
  }
  BnScope(const BnScope&) = delete;
  BnScope& operator=(const BnScope&) = delete;
  BIGNUM* get() { return BN_CTX_get(ctx); }
};

BIGNUM* from(Bytes b, BIGNUM* to) { return BN_bin2bn(b.data(), static_cast<int>(b.size()), to); }

bool to_fixed(const BIGNUM* v, uint8_t* out, size_t n) {
  return BN_bn2binpad(v, out, static_cast<int>(n)) == static_cast<int>(n);
}

// Builds an OpenSSL RSA object (public only, or with CRT values) from our fixed layout.
RSA* make_rsa(const RsaPublicKey& pub, const RsaPrivateKey* priv) {
  RSA* r = RSA_new();
  if (r == nullptr) return nullptr;
  const size_t k = rsa_bytes(pub);
  BIGNUM* n = BN_bin2bn(pub.n, static_cast<int>(k), nullptr);
  BIGNUM* e = BN_new();
  if (n == nullptr || e == nullptr || BN_set_word(e, rsa_exponent(pub)) != 1 ||
      RSA_set0_key(r, n, e, nullptr) != 1) {
    BN_free(n);
    BN_free(e);
    RSA_free(r);
    return nullptr;
  }
  if (priv != nullptr) {
    const int h = static_cast<int>(k / 2);
    BIGNUM* p = BN_secure_new();
    BIGNUM* q = BN_secure_new();
    BIGNUM* dp = BN_secure_new();
    BIGNUM* dq = BN_secure_new();
    BIGNUM* qi = BN_secure_new();
    bool ok = p && q && dp && dq && qi && BN_bin2bn(priv->p, h, p) && BN_bin2bn(priv->q, h, q) &&
              BN_bin2bn(priv->dp, h, dp) && BN_bin2bn(priv->dq, h, dq) &&
              BN_bin2bn(priv->qinv, h, qi);
    if (ok) ok = RSA_set0_factors(r, p, q) == 1;
    if (!ok) {
      BN_clear_free(p);
      BN_clear_free(q);
    }
    if (ok) ok = RSA_set0_crt_params(r, dp, dq, qi) == 1;
    if (!ok) {
      BN_clear_free(dp);
      BN_clear_free(dq);
      BN_clear_free(qi);
      RSA_free(r);
      return nullptr;
    }
  }
  return r;
}

int miller_rabin_rounds(size_t bits) {
  // FIPS 186-4 Table C.3 (error <= 2^-100 for random candidates), rounded up.
  if (bits >= 1536) return 4;
  if (bits >= 1024) return 5;
  return 7;
}

}  // namespace

bool rsa_prime_acceptable(Bytes c, uint32_t e) {
  BnScope s;
  BIGNUM* x = s.get();
  BIGNUM* t = s.get();
  BIGNUM* g = s.get();
  if (g == nullptr || from(c, x) == nullptr) return false;
  // Trial division, then the FIPS 186-4 number of Miller-Rabin rounds for random candidates
  // (BN_check_prime would always run 64+, tripling key generation time for no gain).
  if (BN_is_prime_fasttest_ex(x, miller_rabin_rounds(c.size() * 8), s.ctx, 1, nullptr) != 1)
    return false;
  if (BN_copy(t, x) == nullptr || BN_sub_word(t, 1) != 1 || BN_set_word(g, e) != 1 ||
      BN_gcd(g, g, t, s.ctx) != 1) {
    return false;
  }
  return BN_is_one(g) == 1;
}

Status rsa_key_from_primes(Bytes p_in, Bytes q_in, uint32_t exponent, uint16_t bits,
                           RsaPrivateKey& out) {
  if (!rsa_bits_supported(bits) || p_in.size() != bits / 16u || q_in.size() != bits / 16u)
    return Status::bad_input;
  // Every byte defined (padding and the unused tails included), so keys compare and hash as
  // bytes.
  zeroize(out);
  const uint32_t e_word = exponent == 0 ? kRsaDefaultExponent : exponent;
  BnScope s;
  BIGNUM* p = s.get();
  BIGNUM* q = s.get();
  BIGNUM* n = s.get();
  BIGNUM* e = s.get();
  BIGNUM* p1 = s.get();
  BIGNUM* q1 = s.get();
  BIGNUM* dp = s.get();
  BIGNUM* dq = s.get();
  BIGNUM* qi = s.get();
  if (qi == nullptr || !from(p_in, p) || !from(q_in, q)) return Status::failure;
  if (BN_cmp(p, q) < 0) BN_swap(p, q);
  if (BN_cmp(p, q) == 0) return Status::bad_input;
  for (BIGNUM* b : {p, q, p1, q1, dp, dq, qi}) BN_set_flags(b, BN_FLG_CONSTTIME);
  const size_t h = bits / 16u;
  const bool ok =
      BN_set_word(e, e_word) == 1 && BN_mul(n, p, q, s.ctx) == 1 &&
      BN_num_bits(n) == bits && BN_copy(p1, p) && BN_sub_word(p1, 1) == 1 && BN_copy(q1, q) &&
      BN_sub_word(q1, 1) == 1 && BN_mod_inverse(dp, e, p1, s.ctx) != nullptr &&
      BN_mod_inverse(dq, e, q1, s.ctx) != nullptr && BN_mod_inverse(qi, q, p, s.ctx) != nullptr &&
      to_fixed(n, out.pub.n, 2 * h) && to_fixed(p, out.p, h) && to_fixed(q, out.q, h) &&
      to_fixed(dp, out.dp, h) && to_fixed(dq, out.dq, h) && to_fixed(qi, out.qinv, h);
  for (BIGNUM* b : {p, q, p1, q1, dp, dq, qi}) BN_clear(b);
  if (!ok) {
    zeroize(out);
    return Status::bad_input;  // not invertible (e shares a factor) or wrong size
  }
  out.pub.bits = bits;
  out.pub.exponent = exponent;
  return Status::ok;
}

Status rsa_key_from_prime(const RsaPublicKey& pub, Bytes prime, RsaPrivateKey& out) {
  if (!rsa_bits_supported(pub.bits)) return Status::bad_input;
  const size_t h = pub.bits / 16u;
  if (prime.size() > h) return Status::bad_input;
  BnScope s;
  BIGNUM* n = s.get();
  BIGNUM* p = s.get();
  BIGNUM* q = s.get();
  BIGNUM* rem = s.get();
  if (rem == nullptr || !BN_bin2bn(pub.n, static_cast<int>(2 * h), n) || !from(prime, p))
    return Status::failure;
  if (BN_is_zero(p) || BN_is_one(p) || BN_div(q, rem, n, p, s.ctx) != 1 || !BN_is_zero(rem) ||
      BN_num_bytes(p) != static_cast<int>(h) || BN_num_bytes(q) != static_cast<int>(h)) {
    return Status::bad_input;  // the prime does not belong to this modulus
  }
  uint8_t pb[kMaxRsaPrimeBytes], qb[kMaxRsaPrimeBytes];
  Status st = to_fixed(p, pb, h) && to_fixed(q, qb, h)
                  ? rsa_key_from_primes(Bytes(pb, h), Bytes(qb, h), pub.exponent, pub.bits, out)
                  : Status::failure;
  BN_clear(p);
  BN_clear(q);
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
  RSA* r = make_rsa(key, nullptr);
  if (r == nullptr) return Status::failure;
  // OpenSSL rejects in >= n itself; that is the only way this call fails with valid sizes.
  const int n = RSA_public_encrypt(static_cast<int>(k), in.data(), out.data(), r, RSA_NO_PADDING);
  RSA_free(r);
  return n == static_cast<int>(k) ? Status::ok : Status::bad_input;
}

Status rsa_private_raw(const RsaPrivateKey& key, Bytes in, MutBytes out, RandomSource rng) {
  (void)rng;  // OpenSSL blinds with its own RNG
  if (!rsa_bits_supported(key.pub.bits)) return Status::bad_input;
  const size_t k = rsa_bytes(key.pub);
  if (in.size() != k || out.size() != k) return Status::bad_input;
  RSA* r = make_rsa(key.pub, &key);
  if (r == nullptr) return Status::failure;
  const int n = RSA_private_decrypt(static_cast<int>(k), in.data(), out.data(), r, RSA_NO_PADDING);
  RSA_free(r);
  return n == static_cast<int>(k) ? Status::ok : Status::bad_input;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
