// Glue between our RandomSource / DRBG and mbedTLS's f_rng callbacks (mbedTLS backend only).
#pragma once

#include "crypto/crypto.h"
#include "crypto/drbg.h"

namespace utpm::crypto {
inline namespace UTPM_CRYPTO_NS {

// f_rng over a RandomSource passed as p_rng.
inline int rng_adapter(void* p_rng, unsigned char* out, size_t n) {
  const RandomSource& src = *static_cast<const RandomSource*>(p_rng);
  return src(MutBytes(out, n)) == Status::ok ? 0 : -1;
}

// A CTR_DRBG seeded from public data, for library randomness that needs no secrecy (e.g.
// Miller-Rabin bases) and must not draw from a caller's deterministic stream.
class DeterministicRng {
 public:
  explicit DeterministicRng(Bytes seed_from) {
    uint8_t seed[kDrbgSeedSize];
    hash(HashAlg::sha384, seed_from, MutBytes(seed, sizeof seed));
    drbg_instantiate(st_, Bytes(seed, sizeof seed), {});
  }
  ~DeterministicRng() { zeroize(st_); }
  DeterministicRng(const DeterministicRng&) = delete;
  DeterministicRng& operator=(const DeterministicRng&) = delete;
  static int fill(void* self, unsigned char* out, size_t n) {
    RandomSource src = drbg_source(static_cast<DeterministicRng*>(self)->st_);
    return src(MutBytes(out, n)) == Status::ok ? 0 : -1;
  }

 private:
  DrbgState st_{};
};

}  // namespace UTPM_CRYPTO_NS
}  // namespace utpm::crypto
