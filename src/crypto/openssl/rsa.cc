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

// FIPS 186-5 Table B.1 (Miller-Rabin only, random candidates), the column whose error
// probability matches the modulus' security strength: p, q of 1024 bits (RSA-2048, 112-bit
// strength) 5 rounds for 2^-112; 1536 bits (RSA-3072, 128) 4 rounds for 2^-128; 2048 bits
// (RSA-4096) 4 rounds for 2^-144. 512-bit primes (RSA-1024) are outside the table: 7 rounds,
// FIPS 186-4 C.3's figure for 2^-100.
int miller_rabin_rounds(int bits) {
  if (bits >= 1536) return 4;
  if (bits >= 1024) return 5;
  return 7;
}

uint32_t gcd_word(uint32_t a, uint32_t b) {
  while (b != 0) {
    const uint32_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// FIPS 186-5 B.3.1 Miller-Rabin with `rounds` random bases, on the library's Montgomery
// exponentiation. OpenSSL 3's own test (BN_is_prime_fasttest_ex, BN_check_prime) raises any
// round count to at least 64 (ossl_bn_check_prime: bn_mr_min_checks), i.e. 64 1024-bit
// modular exponentiations for every prime kept where FIPS 186-5 asks for 5; this loop is the
// same algorithm with the round count the standard gives. w odd, w > 3; w1 = w - 1.
int miller_rabin(const BIGNUM* w, const BIGNUM* w1, int rounds, BN_CTX* ctx) {
  BN_CTX_start(ctx);
  BIGNUM* m = BN_CTX_get(ctx);
  BIGNUM* w3 = BN_CTX_get(ctx);
  BIGNUM* b = BN_CTX_get(ctx);
  BIGNUM* z = BN_CTX_get(ctx);
  BN_MONT_CTX* mont = BN_MONT_CTX_new();
  int verdict = -1;  // -1 error, 0 composite, 1 probably prime
  // Step 1-2: w - 1 = 2^a * m, m odd.
  int a = 1;
  if (z == nullptr || mont == nullptr) goto done;
  while (BN_is_bit_set(w1, a) == 0) ++a;
  if (BN_rshift(m, w1, a) != 1 || BN_copy(w3, w) == nullptr || BN_sub_word(w3, 3) != 1 ||
      BN_MONT_CTX_set(mont, w, ctx) != 1) {
    goto done;
  }
  // The exponent is a function of the (secret) prime: constant-time exponentiation, which
  // on this library costs the same as the variable-time one for 1024-bit moduli.
  BN_set_flags(m, BN_FLG_CONSTTIME);
  verdict = 1;
  for (int i = 0; verdict == 1 && i < rounds; ++i) {
    // Step 4.1: 1 < b < w - 1 from the library's RBG (the bases need no secrecy and do not
    // touch the caller's derivation stream).
    if (BN_rand_range(b, w3) != 1 || BN_add_word(b, 2) != 1 ||
        BN_mod_exp_mont_consttime(z, b, m, w, ctx, mont) != 1) {
      verdict = -1;
      break;
    }
    if (BN_is_one(z) || BN_cmp(z, w1) == 0) continue;  // step 4.6
    verdict = 0;                                         // composite unless z reaches w - 1
    for (int j = 1; j < a; ++j) {                        // step 4.7
      if (BN_mod_sqr(z, z, w, ctx) != 1) {
        verdict = -1;
        break;
      }
      if (BN_cmp(z, w1) == 0) {
        verdict = 1;
        break;
      }
      if (BN_is_one(z)) break;  // 1 without passing through -1: composite
    }
  }
done:
  if (z != nullptr) {
    for (BIGNUM* t : {m, w3, b, z}) BN_clear(t);
  }
  BN_MONT_CTX_free(mont);
  BN_CTX_end(ctx);
  return verdict;
}

}  // namespace

bool rsa_prime_acceptable(Bytes c, uint32_t e) {
  BnScope s;
  BIGNUM* w = s.get();
  BIGNUM* w1 = s.get();
  if (w1 == nullptr || from(c, w) == nullptr || BN_copy(w1, w) == nullptr) return false;
  // Meant for RSA prime candidates: odd and w >= 5 (so that a base 1 < b < w - 1 exists).
  if (!BN_is_odd(w) || BN_num_bits(w) < 3 || BN_sub_word(w1, 1) != 1) return false;
  // gcd(e, w - 1) == 1 first: e is a word, so one BN_mod_word and a word gcd (BN_gcd on the
  // 1024-bit value cost as much as ~1/2 a modexp). The verdict is the conjunction of both
  // conditions, so the order changes no result.
  const BN_ULONG r = BN_mod_word(w1, e);
  bool ok = r != static_cast<BN_ULONG>(-1) && gcd_word(e, static_cast<uint32_t>(r)) == 1 &&
            miller_rabin(w, w1, miller_rabin_rounds(BN_num_bits(w)), s.ctx) == 1;
  BN_clear(w);
  BN_clear(w1);
  return ok;
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
