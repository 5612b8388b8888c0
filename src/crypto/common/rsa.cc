// RSA key generation (prime search) and the PKCS #1 v2.2 (RFC 8017) encoding schemes, on the
// backend's raw RSA and primality primitives.
#include <cstdint>

#include "crypto/drbg.h"
#include "crypto/kdf.h"
#include "crypto/rsa.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {
namespace {

// DER DigestInfo prefixes for EMSA-PKCS1-v1_5 (RFC 8017 §9.2, note 1).
constexpr uint8_t kSha1Info[] = {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14};
constexpr uint8_t kSha256Info[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                   0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
constexpr uint8_t kSha384Info[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                   0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
constexpr uint8_t kSha512Info[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                   0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};

Bytes digest_info(HashAlg h) {
  switch (h) {
    case HashAlg::sha1: return kSha1Info;
    case HashAlg::sha256: return kSha256Info;
    case HashAlg::sha384: return kSha384Info;
    case HashAlg::sha512: return kSha512Info;
  }
  return {};
}

bool key_ok(const RsaPublicKey& k) { return rsa_bits_supported(k.bits); }

// Constant-time helpers: all-ones mask when the condition holds.
uint8_t ct_is_zero(uint8_t v) {
  const unsigned is_zero = ((static_cast<unsigned>(v) - 1u) >> 8) & 1u;  // borrow only from 0
  return static_cast<uint8_t>(0u - is_zero);
}
uint8_t ct_eq(uint8_t a, uint8_t b) { return ct_is_zero(static_cast<uint8_t>(a ^ b)); }

// Bit length of |a - b| for equal-length big-endian numbers.
size_t diff_bits(const uint8_t* a, const uint8_t* b, size_t n) {
  bool a_big = false;
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      a_big = a[i] > b[i];
      break;
    }
  }
  const uint8_t* hi = a_big ? a : b;
  const uint8_t* lo = a_big ? b : a;
  uint8_t d[kMaxRsaPrimeBytes];
  int borrow = 0;
  for (size_t i = n; i-- > 0;) {
    int v = hi[i] - lo[i] - borrow;
    borrow = v < 0;
    d[i] = static_cast<uint8_t>(v + (borrow ? 256 : 0));
  }
  for (size_t i = 0; i < n; ++i) {
    if (d[i] != 0) {
      size_t bits = (n - i) * 8;
      for (uint8_t m = 0x80; (d[i] & m) == 0; m >>= 1) --bits;
      return bits;
    }
  }
  return 0;
}

// ---- trial division before the backend's Miller-Rabin (issue 13) ----
// A modular exponentiation of the candidate costs ~10x a full sweep of the table below (host,
// 64-bit path), so every odd prime below 2^14 is tried first: ~11.5 % of odd candidates reach
// Miller-Rabin instead of ~17 % after the backends' own trial division (OpenSSL 3: the first
// 128 primes for a 1024-bit candidate, mbedTLS 2.28: below 1000). A candidate of >= 512 bits
// that a small prime divides is composite, which the backend would have rejected too, and
// every candidate still draws the same octets from the stream: the same candidate is
// accepted, so the derived key is unchanged. Only discarded composites are rejected early (the
// time depends on them, never on the prime that is kept: an accepted candidate always runs the
// full table). 2^14 is about the optimum on the host (a sweep up to 2^13 or 2^15 costs about as
// much as it saves); on the MCU a larger table would pay but costs flash.
constexpr uint32_t kSieveLimit = 1u << 14;
constexpr size_t kSmallPrimeCount = 1899;  // odd primes below 2^14 (pi(2^14) = 1900)

#if defined(__SIZEOF_INT128__)
// 64-bit hosts: the table is cut into groups whose product fits in 64 bits (4-15 primes). The
// candidate is reduced modulo a group's product in 64-bit chunks (one 128-by-64-bit division per
// chunk), then that 64-bit remainder modulo each prime of the group: ~4.5 divisions per prime
// instead of 16 with 32-bit chunks and prime pairs, ~3x faster per sweep.
constexpr bool kGrouped = true;
#else
// 32-bit cores: 16-bit chunks and 32-bit arithmetic, one prime per pass (Cortex-M4 divides 32
// by 32 bits in hardware; 64-bit division is a library call).
constexpr bool kGrouped = false;
#endif

struct PrimeList {
  uint16_t p[kSmallPrimeCount];
  size_t n;  // primes found (checked below)
};

constexpr PrimeList make_prime_list() {
  PrimeList t{};
  bool composite[kSieveLimit] = {};
  size_t n = 0;
  for (uint32_t i = 3; i < kSieveLimit; i += 2) {
    if (composite[i]) continue;
    if (n < kSmallPrimeCount) t.p[n] = static_cast<uint16_t>(i);
    ++n;
    for (uint32_t j = i * i; j < kSieveLimit; j += 2 * i) composite[j] = true;
  }
  t.n = n;
  return t;
}
constexpr PrimeList kPrimeList = make_prime_list();
static_assert(kPrimeList.n == kSmallPrimeCount && kPrimeList.p[0] == 3 &&
              kPrimeList.p[kSmallPrimeCount - 1] == 16381);

// Groups of consecutive primes whose product fits in 64 bits (grouped layout only).
constexpr size_t group_primes(uint64_t* prod, uint16_t* end) {
  size_t g = 0;
  for (size_t i = 0; i < kSmallPrimeCount; ++g) {
    uint64_t q = 1;
    while (i < kSmallPrimeCount && q <= UINT64_MAX / kPrimeList.p[i]) q *= kPrimeList.p[i++];
    if (prod != nullptr) prod[g] = q;
    if (end != nullptr) end[g] = static_cast<uint16_t>(i);
  }
  return g;
}
constexpr size_t kGroupCount = kGrouped ? group_primes(nullptr, nullptr) : 1;

struct SmallPrimes {
  uint16_t p[kSmallPrimeCount];
  // Grouped layout: group g covers p[end[g-1] .. end[g]-1] and prod[g] is their product.
  uint64_t prod[kGroupCount];
  uint16_t end[kGroupCount];
};

constexpr SmallPrimes make_small_primes() {
  SmallPrimes t{};
  for (size_t i = 0; i < kSmallPrimeCount; ++i) t.p[i] = kPrimeList.p[i];
  if constexpr (kGrouped) group_primes(t.prod, t.end);
  return t;
}
constexpr SmallPrimes kSmallPrimes = make_small_primes();
static_assert(!kGrouped || kSmallPrimes.end[kGroupCount - 1] == kSmallPrimeCount);

// True if no odd prime below 2^14 divides c (big-endian, at least 64 octets, so c itself is
// never one of them). Not inlined: its frame must not stack under the backend's test.
[[gnu::noinline]] bool survives_small_primes(Bytes c) {
#if defined(__SIZEOF_INT128__)
  using u128 = unsigned __int128;
  if (c.size() % 8 != 0 || c.size() > kMaxRsaPrimeBytes) return true;  // backend decides
  uint64_t chunk[kMaxRsaPrimeBytes / 8];
  const size_t n = c.size() / 8;
  for (size_t k = 0; k < n; ++k) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i) v = (v << 8) | c[k * 8 + i];
    chunk[k] = v;
  }
  bool ok = true;
  size_t i = 0;
  for (size_t g = 0; ok && g < kGroupCount; ++g) {
    const uint64_t q = kSmallPrimes.prod[g];
    uint64_t r = 0;  // r < q, so (r * 2^64 + chunk) / q fits in 64 bits
    for (size_t k = 0; k < n; ++k) r = static_cast<uint64_t>(((u128{r} << 64) | chunk[k]) % q);
    for (; ok && i < kSmallPrimes.end[g]; ++i) ok = r % kSmallPrimes.p[i] != 0;
  }
#else
  if (c.size() % 2 != 0 || c.size() > kMaxRsaPrimeBytes) return true;  // backend decides
  uint16_t chunk[kMaxRsaPrimeBytes / 2];
  const size_t n = c.size() / 2;
  for (size_t k = 0; k < n; ++k) chunk[k] = static_cast<uint16_t>((c[2 * k] << 8) | c[2 * k + 1]);
  bool ok = true;
  for (size_t i = 0; ok && i < kSmallPrimeCount; ++i) {
    const uint32_t p = kSmallPrimes.p[i];
    uint32_t r = 0;  // r < 2^14: r * 2^16 + chunk < 2^30
    for (size_t k = 0; k < n; ++k) r = ((r << 16) | chunk[k]) % p;
    ok = r != 0;
  }
#endif
  zeroize(chunk);
  return ok;
}

// One candidate: bits/2 fresh bits from the stream with the two top bits (the product has
// exactly the full bit length) and the low bit set.
Status draw_candidate(RandomSource rng, MutBytes c) {
  const Status s = rng(c);
  if (s == Status::ok) {
    c[0] |= 0xC0;
    c[c.size() - 1] |= 1;
  }
  return s;
}

#if defined(UTPM_RSA_PAIRED_PRIME_TEST)
// Pairwise testing (backends with rsa_prime_acceptable2). When the stream is a DRBG, the walk
// reads ahead on a copy of its state to the next candidate that survives the sieve and tests
// both at once; the copy becomes the stream's state only when the walk goes on to that
// candidate. So the candidates, their order and the verdicts are those of the one-by-one walk,
// and the caller's DRBG ends exactly after the last candidate used (later draws from it, e.g.
// a storage key's seed value, are unchanged). The read-ahead that is dropped at the end costs
// one test, half of it for free in the paired exponentiation.
struct LookAhead {
  DrbgState* st = nullptr;  // the caller's stream; nullptr: no read-ahead (any other source)
  DrbgState ahead{};        // the stream after `next`
  uint8_t next[kMaxRsaPrimeBytes];
  size_t next_draws = 0;  // candidates drawn to reach `next`
  bool has_next = false;
  bool next_ok = false;  // its verdict
  LookAhead() = default;
  LookAhead(const LookAhead&) = delete;
  LookAhead& operator=(const LookAhead&) = delete;
  ~LookAhead() {
    zeroize(ahead);
    zeroize(next);
  }
};
#else
struct LookAhead {};
#endif

Status find_prime(RandomSource rng, uint32_t e, MutBytes c, [[maybe_unused]] LookAhead& la) {
  // 1024-bit primes have density ~1/710; 20x the expected number of draws means a broken
  // stream or primality test, not bad luck.
  const size_t limit = c.size() * 8 * 20;
  size_t tries = 0;
  while (tries < limit) {
#if defined(UTPM_RSA_PAIRED_PRIME_TEST)
    if (la.has_next) {  // the candidate read ahead is the next one; its verdict is known
      *la.st = la.ahead;
      for (size_t i = 0; i < c.size(); ++i) c[i] = la.next[i];
      tries += la.next_draws;
      la.has_next = false;
      if (la.next_ok) return Status::ok;
      continue;
    }
#endif
    const Status s = draw_candidate(rng, c);
    if (s != Status::ok) return s;
    ++tries;
    if (!survives_small_primes(c)) continue;
#if defined(UTPM_RSA_PAIRED_PRIME_TEST)
    if (la.st != nullptr) {
      la.ahead = *la.st;
      const MutBytes next(la.next, c.size());
      const RandomSource ahead = drbg_source(la.ahead);
      size_t d = 0;
      bool found = false;
      while (!found && tries + d < limit && draw_candidate(ahead, next) == Status::ok) {
        ++d;
        found = survives_small_primes(next);
      }
      if (found) {
        bool ok[2];
        rsa_prime_acceptable2(c, next, e, ok);
        la.has_next = true;
        la.next_ok = ok[1];
        la.next_draws = d;
        if (ok[0]) return Status::ok;
        continue;
      }
      // Nothing to pair with (the limit, or the copy needs a reseed): test c alone; the
      // stream itself has not moved past c.
    }
#endif
    if (rsa_prime_acceptable(c, e)) return Status::ok;
  }
  return Status::failure;
}

// Fills out with nonzero random octets (PKCS #1 v1.5 padding string).
Status nonzero_random(RandomSource rng, MutBytes out) {
  Status s = rng(out);
  for (size_t i = 0; s == Status::ok && i < out.size(); ++i) {
    while (s == Status::ok && out[i] == 0) s = rng(out.subspan(i, 1));
  }
  return s;
}

}  // namespace

Status rsa_generate(uint16_t bits, uint32_t exponent, RandomSource rng, RsaPrivateKey& out) {
  if (!rsa_bits_supported(bits)) return Status::bad_input;
  const uint32_t e = exponent == 0 ? kRsaDefaultExponent : exponent;
  if (e < 3 || (e & 1) == 0) return Status::bad_input;
  const size_t plen = bits / 16u;
  uint8_t p[kMaxRsaPrimeBytes], q[kMaxRsaPrimeBytes];
  LookAhead la;
#if defined(UTPM_RSA_PAIRED_PRIME_TEST)
  la.st = drbg_state_of(rng);
#endif
  Status s = find_prime(rng, e, MutBytes(p, plen), la);
  // FIPS 186-4 B.3.3 step 5.4: |p - q| > 2^(nlen/2 - 100).
  for (int tries = 0; s == Status::ok; ++tries) {
    s = find_prime(rng, e, MutBytes(q, plen), la);
    if (s != Status::ok || diff_bits(p, q, plen) > plen * 8 - 100) break;
    if (tries > 8) s = Status::failure;
  }
  if (s == Status::ok) s = rsa_key_from_primes(Bytes(p, plen), Bytes(q, plen), exponent, bits, out);
  zeroize(p);
  zeroize(q);
  return s;
}

Status rsa_encrypt(RsaScheme scheme, HashAlg hash, Bytes label, const RsaPublicKey& key,
                   Bytes msg, RandomSource rng, MutBytes out) {
  if (!key_ok(key)) return Status::bad_input;
  const size_t k = rsa_bytes(key);
  if (out.size() != k) return Status::bad_input;
  uint8_t em[kMaxRsaBytes];
  Status s = Status::ok;
  switch (scheme) {
    case RsaScheme::null: {
      // Raw: the message, left-padded with zeros, must be below n (checked by the backend).
      if (msg.size() > k) return Status::bad_input;
      for (size_t i = 0; i < k; ++i) em[i] = i < k - msg.size() ? 0 : msg[i - (k - msg.size())];
      break;
    }
    case RsaScheme::rsaes: {  // RFC 8017 §7.2.1
      if (msg.size() + 11 > k) return Status::bad_input;
      const size_t ps = k - msg.size() - 3;
      em[0] = 0;
      em[1] = 2;
      s = nonzero_random(rng, MutBytes(em + 2, ps));
      em[2 + ps] = 0;
      for (size_t i = 0; i < msg.size(); ++i) em[3 + ps + i] = msg[i];
      break;
    }
    case RsaScheme::oaep: {  // RFC 8017 §7.1.1
      const size_t h = digest_size(hash);
      if (h == 0) return Status::unsupported;
      if (msg.size() + 2 * h + 2 > k) return Status::bad_input;
      uint8_t* seed = em + 1;
      uint8_t* db = em + 1 + h;
      const size_t db_len = k - h - 1;
      em[0] = 0;
      if (crypto::hash(hash, label, MutBytes(db, h)) != h) return Status::failure;
      for (size_t i = h; i < db_len - msg.size() - 1; ++i) db[i] = 0;
      db[db_len - msg.size() - 1] = 1;
      for (size_t i = 0; i < msg.size(); ++i) db[db_len - msg.size() + i] = msg[i];
      s = rng(MutBytes(seed, h));
      uint8_t mask[kMaxRsaBytes];
      if (s == Status::ok) s = mgf1(hash, Bytes(seed, h), MutBytes(mask, db_len));
      for (size_t i = 0; s == Status::ok && i < db_len; ++i) db[i] ^= mask[i];
      if (s == Status::ok) s = mgf1(hash, Bytes(db, db_len), MutBytes(mask, h));
      for (size_t i = 0; s == Status::ok && i < h; ++i) seed[i] ^= mask[i];
      zeroize(mask);
      break;
    }
    default: return Status::unsupported;
  }
  if (s == Status::ok) s = rsa_public_raw(key, Bytes(em, k), out);
  zeroize(em);
  return s;
}

Status rsa_decrypt(RsaScheme scheme, HashAlg hash, Bytes label, const RsaPrivateKey& key,
                   Bytes in, RandomSource rng, MutBytes out, size_t* out_size) {
  if (!key_ok(key.pub) || out_size == nullptr) return Status::bad_input;
  const size_t k = rsa_bytes(key.pub);
  if (in.size() != k) return Status::bad_input;
  if (scheme != RsaScheme::null && scheme != RsaScheme::rsaes && scheme != RsaScheme::oaep)
    return Status::unsupported;
  const size_t h = digest_size(hash);
  if (scheme == RsaScheme::oaep && (h == 0 || k < 2 * h + 2)) return Status::unsupported;
  uint8_t em[kMaxRsaBytes];
  Status s = rsa_private_raw(key, in, MutBytes(em, k), rng);
  if (s != Status::ok) {
    zeroize(em);
    return s;
  }
  // From here on, no branch depends on the decrypted octets until the single verdict.
  size_t msg_start = 0;
  uint8_t good = 0xFF;
  if (scheme == RsaScheme::null) {
    msg_start = 0;
  } else if (scheme == RsaScheme::rsaes) {  // RFC 8017 §7.2.2
    good &= ct_eq(em[0], 0);
    good &= ct_eq(em[1], 2);
    uint8_t found = 0;  // 0xFF once the zero separator has been seen
    size_t sep = 0;
    for (size_t i = 2; i < k; ++i) {
      const uint8_t is_sep = static_cast<uint8_t>(ct_is_zero(em[i]) & ~found);
      sep |= static_cast<size_t>(is_sep & 1) * i;  // exactly one i gets is_sep
      found |= is_sep;
    }
    good &= found;
    good &= static_cast<uint8_t>((0u - static_cast<unsigned>(sep >= 10)) & 0xFFu);  // PS >= 8
    msg_start = sep + 1;
  } else {  // OAEP, RFC 8017 §7.1.2
    uint8_t* seed = em + 1;
    uint8_t* db = em + 1 + h;
    const size_t db_len = k - h - 1;
    uint8_t mask[kMaxRsaBytes];
    uint8_t lhash[kMaxDigestSize];
    s = mgf1(hash, Bytes(db, db_len), MutBytes(mask, h));
    for (size_t i = 0; i < h; ++i) seed[i] ^= mask[i];
    if (s == Status::ok) s = mgf1(hash, Bytes(seed, h), MutBytes(mask, db_len));
    for (size_t i = 0; i < db_len; ++i) db[i] ^= mask[i];
    if (s == Status::ok && crypto::hash(hash, label, MutBytes(lhash, h)) != h) s = Status::failure;
    zeroize(mask);
    if (s != Status::ok) {
      zeroize(em);
      return s;
    }
    good &= ct_eq(em[0], 0);
    uint8_t diff = 0;
    for (size_t i = 0; i < h; ++i) diff |= static_cast<uint8_t>(db[i] ^ lhash[i]);
    good &= ct_is_zero(diff);
    uint8_t found = 0;
    size_t one = 0;
    for (size_t i = h; i < db_len; ++i) {
      const uint8_t is_one = static_cast<uint8_t>(ct_eq(db[i], 1) & ~found);
      const uint8_t bad = static_cast<uint8_t>(~ct_is_zero(db[i]) & ~ct_eq(db[i], 1) & ~found);
      good &= static_cast<uint8_t>(~bad);
      one |= static_cast<size_t>(is_one & 1) * i;
      found |= is_one;
    }
    good &= found;
    msg_start = 1 + h + one + 1;
  }
  const size_t msg_len = k - msg_start;
  if (good != 0xFF) {
    zeroize(em);
    return Status::verify_failed;
  }
  if (out.size() < msg_len) {
    zeroize(em);
    return Status::bad_input;
  }
  for (size_t i = 0; i < msg_len; ++i) out[i] = em[msg_start + i];
  *out_size = msg_len;
  zeroize(em);
  return Status::ok;
}

namespace {

// EMSA-PKCS1-v1_5 (RFC 8017 §9.2) into em[0..k).
Status emsa_pkcs1(HashAlg hash, Bytes digest, uint8_t* em, size_t k) {
  const Bytes info = digest_info(hash);
  const size_t t = info.size() + digest.size();
  if (k < t + 11) return Status::bad_input;
  em[0] = 0;
  em[1] = 1;
  for (size_t i = 2; i < k - t - 1; ++i) em[i] = 0xFF;
  em[k - t - 1] = 0;
  for (size_t i = 0; i < info.size(); ++i) em[k - t + i] = info[i];
  for (size_t i = 0; i < digest.size(); ++i) em[k - digest.size() + i] = digest[i];
  return Status::ok;
}

// H = Hash(0x00 * 8 || mHash || salt)
Status pss_hash(HashAlg hash, Bytes digest, Bytes salt, uint8_t* out) {
  static constexpr uint8_t kZeros[8] = {};
  HashState st;
  const Status s = hash_start(st, hash);
  if (s != Status::ok) return s;
  hash_update(st, kZeros);
  hash_update(st, digest);
  hash_update(st, salt);
  return hash_finish(st, MutBytes(out, kMaxDigestSize)) == digest.size() ? Status::ok
                                                                          : Status::failure;
}

}  // namespace

Status rsa_sign(RsaScheme scheme, HashAlg hash, const RsaPrivateKey& key, Bytes digest,
                RandomSource rng, MutBytes sig) {
  if (!key_ok(key.pub)) return Status::bad_input;
  const size_t k = rsa_bytes(key.pub);
  const size_t h = digest_size(hash);
  if (h == 0) return Status::unsupported;
  if (sig.size() != k || digest.size() != h) return Status::bad_input;
  uint8_t em[kMaxRsaBytes];
  Status s = Status::ok;
  if (scheme == RsaScheme::rsassa) {
    s = emsa_pkcs1(hash, digest, em, k);
  } else if (scheme == RsaScheme::rsapss) {
    // RFC 8017 §9.1.1 with emBits = 8k - 1, so emLen = k and the top bit is cleared.
    if (k < h + 2) return Status::bad_input;
    const size_t salt_len = k - h - 2 < h ? k - h - 2 : h;
    const size_t db_len = k - h - 1;
    uint8_t salt[kMaxDigestSize];
    s = rng(MutBytes(salt, salt_len));
    uint8_t* hh = em + db_len;
    if (s == Status::ok) s = pss_hash(hash, digest, Bytes(salt, salt_len), hh);
    uint8_t mask[kMaxRsaBytes];
    if (s == Status::ok) s = mgf1(hash, Bytes(hh, h), MutBytes(mask, db_len));
    if (s == Status::ok) {
      for (size_t i = 0; i < db_len - salt_len - 1; ++i) em[i] = 0;
      em[db_len - salt_len - 1] = 1;
      for (size_t i = 0; i < salt_len; ++i) em[db_len - salt_len + i] = salt[i];
      for (size_t i = 0; i < db_len; ++i) em[i] ^= mask[i];
      em[0] &= 0x7F;
      em[k - 1] = 0xBC;
    }
    zeroize(mask);
  } else {
    return Status::unsupported;
  }
  if (s == Status::ok) s = rsa_private_raw(key, Bytes(em, k), sig, rng);
  zeroize(em);
  return s;
}

Status rsa_verify(RsaScheme scheme, HashAlg hash, const RsaPublicKey& key, Bytes digest,
                  Bytes sig) {
  if (!key_ok(key)) return Status::bad_input;
  const size_t k = rsa_bytes(key);
  const size_t h = digest_size(hash);
  if (h == 0) return Status::unsupported;
  if (scheme != RsaScheme::rsassa && scheme != RsaScheme::rsapss) return Status::unsupported;
  if (digest.size() != h || sig.size() != k) return Status::verify_failed;
  uint8_t em[kMaxRsaBytes];
  Status s = rsa_public_raw(key, sig, MutBytes(em, k));
  if (s == Status::bad_input) return Status::verify_failed;  // signature >= n
  if (s != Status::ok) return s;
  if (scheme == RsaScheme::rsassa) {
    uint8_t expect[kMaxRsaBytes];
    s = emsa_pkcs1(hash, digest, expect, k);
    if (s != Status::ok) return Status::verify_failed;
    return ct_equal(Bytes(em, k), Bytes(expect, k)) ? Status::ok : Status::verify_failed;
  }
  // PSS (RFC 8017 §9.1.2), salt length recovered from the encoding.
  if (k < h + 2 || em[k - 1] != 0xBC || (em[0] & 0x80) != 0) return Status::verify_failed;
  const size_t db_len = k - h - 1;
  uint8_t* hh = em + db_len;
  uint8_t mask[kMaxRsaBytes];
  s = mgf1(hash, Bytes(hh, h), MutBytes(mask, db_len));
  if (s != Status::ok) return s;
  for (size_t i = 0; i < db_len; ++i) em[i] ^= mask[i];
  em[0] &= 0x7F;
  size_t i = 0;
  while (i < db_len && em[i] == 0) ++i;
  if (i == db_len || em[i] != 1) return Status::verify_failed;
  const Bytes salt(em + i + 1, db_len - i - 1);
  uint8_t h2[kMaxDigestSize];
  s = pss_hash(hash, digest, salt, h2);
  if (s != Status::ok) return s;
  return ct_equal(Bytes(h2, h), Bytes(hh, h)) ? Status::ok : Status::verify_failed;
}

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
