// Test-only random sources: a seeded DRBG, and a "replay" source that first hands out given
// bytes (a published OAEP seed, PSS salt, ECDSA k, ...) and then DRBG output.
#pragma once

#include <cstdint>
#include <vector>

#include "crypto/drbg.h"

namespace utpm::crypto::test {

class TestRng {
 public:
  explicit TestRng(uint8_t seed_byte = 1, std::vector<uint8_t> replay = {})
      : replay_(std::move(replay)) {
    uint8_t seed[kDrbgSeedSize];
    for (size_t i = 0; i < sizeof seed; ++i) seed[i] = static_cast<uint8_t>(seed_byte + i * 7);
    drbg_instantiate(st_, Bytes(seed, sizeof seed), {});
  }
  RandomSource source() { return RandomSource{&TestRng::fill, this}; }
  size_t replayed() const { return pos_; }

 private:
  static Status fill(void* self, MutBytes out) {
    auto* t = static_cast<TestRng*>(self);
    size_t i = 0;
    for (; i < out.size() && t->pos_ < t->replay_.size(); ++i) out[i] = t->replay_[t->pos_++];
    if (i == out.size()) return Status::ok;
    return drbg_source(t->st_)(out.subspan(i));
  }
  DrbgState st_{};
  std::vector<uint8_t> replay_;
  size_t pos_ = 0;
};

}  // namespace utpm::crypto::test
