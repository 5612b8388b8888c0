// CTR_DRBG (AES-256, no df): the NIST CAVP known answer with intermediate state, and the
// behaviour the engine relies on (determinism, save/restore, limits).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "crypto/drbg.h"
#include "test/vectors.h"

namespace utpm::crypto {
namespace {

using test::to_hex;

std::vector<uint8_t> seq(size_t n, uint8_t start) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(start + i);
  return v;
}

TEST(Drbg, CavpNoDfWithReseed) {
  const auto recs = test::load_vectors("drbg/ctr_drbg_aes256_nodf.rsp");
  ASSERT_EQ(recs.size(), 1u);
  const auto& r = recs[0];
  DrbgState st{};
  ASSERT_EQ(drbg_instantiate(st, r.bytes("EntropyInput"), r.bytes("PersonalizationString")),
            Status::ok);
  std::vector<uint8_t> out(r.bytes("ReturnedBits").size());
  ASSERT_EQ(drbg_generate(st, out, r.bytes("AdditionalInput")), Status::ok);
  EXPECT_EQ(to_hex(out), r.str("IntermediateReturnedBits"));
  EXPECT_EQ(to_hex(st.key, sizeof st.key), r.str("IntermediateKey"));
  EXPECT_EQ(to_hex(st.v, sizeof st.v), r.str("IntermediateV"));
  ASSERT_EQ(drbg_reseed(st, r.bytes("EntropyInputReseed"), r.bytes("AdditionalInputReseed")),
            Status::ok);
  ASSERT_EQ(drbg_generate(st, out), Status::ok);
  EXPECT_EQ(to_hex(out), r.str("ReturnedBits"));
}

TEST(Drbg, DeterministicAndSavable) {
  const auto seed = seq(kDrbgSeedSize, 7);
  DrbgState a{}, b{};
  ASSERT_EQ(drbg_instantiate(a, seed, {}), Status::ok);
  ASSERT_EQ(drbg_instantiate(b, seed, {}), Status::ok);
  std::vector<uint8_t> x(100), y(100);
  ASSERT_EQ(drbg_generate(a, x), Status::ok);
  ASSERT_EQ(drbg_generate(b, y), Status::ok);
  EXPECT_EQ(x, y);
  // A byte copy of the state continues the same stream (context save / restore).
  uint8_t saved[sizeof(DrbgState)];
  std::memcpy(saved, &a, sizeof a);
  DrbgState c;
  std::memcpy(&c, saved, sizeof c);
  ASSERT_EQ(drbg_generate(a, x), Status::ok);
  ASSERT_EQ(drbg_generate(c, y), Status::ok);
  EXPECT_EQ(x, y);
  // Successive outputs differ, and personalization/additional input change the stream.
  std::vector<uint8_t> z(100);
  ASSERT_EQ(drbg_generate(a, z), Status::ok);
  EXPECT_NE(x, z);
  DrbgState p{};
  ASSERT_EQ(drbg_instantiate(p, seed, seq(5, 1)), Status::ok);
  DrbgState q{};
  ASSERT_EQ(drbg_instantiate(q, seed, {}), Status::ok);
  ASSERT_EQ(drbg_generate(p, x), Status::ok);
  ASSERT_EQ(drbg_generate(q, y), Status::ok);
  EXPECT_NE(x, y);
  DrbgState r{};
  ASSERT_EQ(drbg_instantiate(r, seed, {}), Status::ok);
  ASSERT_EQ(drbg_generate(r, x, seq(3, 9)), Status::ok);
  EXPECT_NE(x, y);
}

TEST(Drbg, SourceSplitsLargeRequests) {
  const auto seed = seq(kDrbgSeedSize, 100);
  DrbgState a{}, b{};
  ASSERT_EQ(drbg_instantiate(a, seed, {}), Status::ok);
  b = a;
  std::vector<uint8_t> big(kDrbgMaxRequest + 100);
  RandomSource src = drbg_source(a);
  ASSERT_EQ(src(big), Status::ok);
  std::vector<uint8_t> first(kDrbgMaxRequest), second(100);
  ASSERT_EQ(drbg_generate(b, first), Status::ok);
  ASSERT_EQ(drbg_generate(b, second), Status::ok);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), big.begin()));
  EXPECT_TRUE(std::equal(second.begin(), second.end(), big.begin() + kDrbgMaxRequest));
}

TEST(Drbg, RejectsMisuse) {
  DrbgState st{};
  std::vector<uint8_t> out(16);
  EXPECT_EQ(drbg_generate(st, out), Status::bad_input);  // never instantiated
  EXPECT_EQ(drbg_reseed(st, seq(kDrbgSeedSize, 0), {}), Status::bad_input);
  EXPECT_EQ(drbg_instantiate(st, seq(kDrbgSeedSize - 1, 0), {}), Status::bad_input);
  EXPECT_EQ(drbg_instantiate(st, seq(kDrbgSeedSize + 1, 0), {}), Status::bad_input);
  EXPECT_EQ(drbg_instantiate(st, seq(kDrbgSeedSize, 0), seq(kDrbgSeedSize + 1, 0)),
            Status::bad_input);
  ASSERT_EQ(drbg_instantiate(st, seq(kDrbgSeedSize, 0), {}), Status::ok);
  EXPECT_EQ(drbg_reseed(st, seq(10, 0), {}), Status::bad_input);
  EXPECT_EQ(drbg_generate(st, out, seq(kDrbgSeedSize + 1, 0)), Status::bad_input);
  std::vector<uint8_t> huge(kDrbgMaxRequest + 1);
  EXPECT_EQ(drbg_generate(st, huge), Status::bad_input);
  // Past the reseed interval the DRBG refuses until reseeded.
  st.reseed_counter = kDrbgReseedInterval + 1;
  EXPECT_EQ(drbg_generate(st, out), Status::failure);
  ASSERT_EQ(drbg_reseed(st, seq(kDrbgSeedSize, 3), {}), Status::ok);
  EXPECT_EQ(drbg_generate(st, out), Status::ok);
  EXPECT_EQ(drbg_generate(st, MutBytes()), Status::ok);  // zero bytes is a valid request
}

}  // namespace
}  // namespace utpm::crypto
