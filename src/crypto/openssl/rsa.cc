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

// FIPS 186-5 B.3.1 Miller-Rabin with random bases, on the library's Montgomery
// exponentiation. OpenSSL 3's own test (BN_is_prime_fasttest_ex, BN_check_prime) raises any
// round count to at least 64 (ossl_bn_check_prime: bn_mr_min_checks), i.e. 64 1024-bit
// modular exponentiations for every prime kept where FIPS 186-5 asks for 5; this is the same
// algorithm with the round count the standard gives, run for one or two candidates at once.
struct MrCandidate {
  BIGNUM* w = nullptr;   // the candidate (odd, >= 5)
  BIGNUM* w1 = nullptr;  // w - 1
  BIGNUM* w3 = nullptr;  // w - 3 (bases are 2 + [0, w - 3))
  BIGNUM* m = nullptr;   // (w - 1) / 2^a, odd
  BIGNUM* b = nullptr;   // this round's base
  BIGNUM* z = nullptr;
  BN_MONT_CTX* mont = nullptr;
  int a = 0;
  int rounds = 0;
  int verdict = 0;  // 1 probably prime so far, 0 rejected (composite or gcd), -1 error
};

// Loads c and decides everything but the Miller-Rabin rounds. All BIGNUMs come from ctx
// (the caller's BN_CTX_start frame).
void mr_setup(MrCandidate& k, Bytes c, uint32_t e, BN_CTX* ctx) {
  k.verdict = -1;
  k.w = BN_CTX_get(ctx);
  k.w1 = BN_CTX_get(ctx);
  k.w3 = BN_CTX_get(ctx);
  k.m = BN_CTX_get(ctx);
  k.b = BN_CTX_get(ctx);
  k.z = BN_CTX_get(ctx);
  if (k.z == nullptr || from(c, k.w) == nullptr || BN_copy(k.w1, k.w) == nullptr) return;
  k.verdict = 0;
  // Meant for RSA prime candidates: odd and w >= 5 (so that a base 1 < b < w - 1 exists).
  if (!BN_is_odd(k.w) || BN_num_bits(k.w) < 3) return;
  k.verdict = -1;
  if (BN_sub_word(k.w1, 1) != 1 || BN_copy(k.w3, k.w) == nullptr || BN_sub_word(k.w3, 3) != 1)
    return;
  // gcd(e, w - 1) == 1 first: e is a word, so one BN_mod_word and a word gcd (BN_gcd on the
  // 1024-bit value costs as much as half a modexp). The verdict is the conjunction of both
  // conditions, so the order changes no result.
  const BN_ULONG r = BN_mod_word(k.w1, e);
  if (r == static_cast<BN_ULONG>(-1)) return;
  k.verdict = 0;
  if (gcd_word(e, static_cast<uint32_t>(r)) != 1) return;
  k.verdict = -1;
  // Steps 1-2: w - 1 = 2^a * m, m odd.
  k.a = 1;
  while (BN_is_bit_set(k.w1, k.a) == 0) ++k.a;
  k.mont = BN_MONT_CTX_new();
  if (k.mont == nullptr || BN_rshift(k.m, k.w1, k.a) != 1 || BN_MONT_CTX_set(k.mont, k.w, ctx) != 1)
    return;
  // The exponent is a function of the (secret) prime: constant-time exponentiation, which on
  // this library costs no more than the variable-time one for 1024-bit moduli.
  BN_set_flags(k.m, BN_FLG_CONSTTIME);
  k.rounds = miller_rabin_rounds(BN_num_bits(k.w));
  k.verdict = 1;
}

// Step 4.1: 1 < b < w - 1 from the library's RBG (the bases need no secrecy and do not touch
// the caller's derivation stream).
bool mr_new_base(MrCandidate& k) {
  return BN_rand_range(k.b, k.w3) == 1 && BN_add_word(k.b, 2) == 1;
}

// Steps 4.6-4.7 once z = b^m mod w.
void mr_finish_round(MrCandidate& k, BN_CTX* ctx) {
  if (BN_is_one(k.z) || BN_cmp(k.z, k.w1) == 0) return;  // step 4.6: passes this round
  k.verdict = 0;                                           // composite unless z reaches w - 1
  for (int j = 1; j < k.a; ++j) {                          // step 4.7
    if (BN_mod_sqr(k.z, k.z, k.w, ctx) != 1) {
      k.verdict = -1;
      return;
    }
    if (BN_cmp(k.z, k.w1) == 0) {
      k.verdict = 1;
      return;
    }
    if (BN_is_one(k.z)) return;  // 1 without passing through -1: composite
  }
}

// Runs the rounds of up to two candidates side by side: while both are undecided, one
// BN_mod_exp_mont_consttime_x2 computes both exponentiations (OpenSSL 3 runs the two
// 1024-bit ones interleaved on AVX-512 IFMA, ~2x the throughput of two single calls; on other
// CPUs or sizes it makes the two single calls itself).
void mr_run(MrCandidate* k, size_t n, BN_CTX* ctx) {
  for (int i = 0;; ++i) {
    MrCandidate* live[2];
    size_t nl = 0;
    for (size_t j = 0; j < n; ++j) {
      if (k[j].verdict != 1 || i >= k[j].rounds) continue;
      if (!mr_new_base(k[j])) {
        k[j].verdict = -1;
        continue;
      }
      live[nl++] = &k[j];
    }
    if (nl == 0) return;
    bool ok;
    if (nl == 2) {
      ok = BN_mod_exp_mont_consttime_x2(live[0]->z, live[0]->b, live[0]->m, live[0]->w,
                                        live[0]->mont, live[1]->z, live[1]->b, live[1]->m,
                                        live[1]->w, live[1]->mont, ctx) == 1;
    } else {
      ok = BN_mod_exp_mont_consttime(live[0]->z, live[0]->b, live[0]->m, live[0]->w, ctx,
                                     live[0]->mont) == 1;
    }
    for (size_t j = 0; j < nl; ++j) {
      if (ok) {
        mr_finish_round(*live[j], ctx);
      } else {
        live[j]->verdict = -1;
      }
    }
  }
}

void mr_clear(MrCandidate& k) {
  for (BIGNUM* t : {k.w, k.w1, k.w3, k.m, k.b, k.z}) {
    if (t != nullptr) BN_clear(t);
  }
  BN_MONT_CTX_free(k.mont);
  k.mont = nullptr;
}

}  // namespace

bool rsa_prime_acceptable(Bytes c, uint32_t e) {
  BnScope s;
  MrCandidate k;
  mr_setup(k, c, e, s.ctx);
  mr_run(&k, 1, s.ctx);
  const bool ok = k.verdict == 1;
  mr_clear(k);
  return ok;
}

void rsa_prime_acceptable2(Bytes c1, Bytes c2, uint32_t e, bool (&ok)[2]) {
  BnScope s;
  MrCandidate k[2];
  mr_setup(k[0], c1, e, s.ctx);
  mr_setup(k[1], c2, e, s.ctx);
  mr_run(k, 2, s.ctx);
  for (size_t j = 0; j < 2; ++j) {
    ok[j] = k[j].verdict == 1;
    mr_clear(k[j]);
  }
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
