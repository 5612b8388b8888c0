// Hashes and HMAC against NIST CAVP SHS vectors (short messages + Monte Carlo) and the
// RFC 2202 / RFC 4231 HMAC vectors; hash/HMAC state save-restore; utilities.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "test/vectors.h"

namespace utpm::crypto {
namespace {

using test::load_vectors;
using test::to_hex;

struct Named {
  HashAlg alg;
  const char* file;  // CAVP name
};
constexpr Named kAlgs[] = {
    {HashAlg::sha1, "SHA1"},
    {HashAlg::sha256, "SHA256"},
    {HashAlg::sha384, "SHA384"},
    {HashAlg::sha512, "SHA512"},
};

std::vector<uint8_t> digest(HashAlg alg, const std::vector<uint8_t>& msg) {
  std::vector<uint8_t> out(kMaxDigestSize);
  out.resize(hash(alg, msg, out));
  return out;
}

TEST(Hash, CavpShortMessages) {
  for (const auto& a : kAlgs) {
    const auto recs = load_vectors(std::string("sha/") + a.file + "ShortMsg.rsp");
    ASSERT_GT(recs.size(), 60u) << a.file;
    for (const auto& r : recs) {
      auto msg = r.bytes("Msg");
      msg.resize(static_cast<size_t>(r.num("Len") / 8));  // Len = 0 is written as Msg = 00
      EXPECT_EQ(to_hex(digest(a.alg, msg)), r.str("MD")) << r.where();

      // Same digest when fed in uneven pieces through a state that is copied as bytes
      // between the pieces, the way a context-saved hash sequence is.
      HashState st;
      ASSERT_EQ(hash_start(st, a.alg), Status::ok);
      size_t off = 0, step = 1;
      while (off < msg.size()) {
        const size_t n = std::min(step, msg.size() - off);
        hash_update(st, Bytes(msg.data() + off, n));
        off += n;
        step = step * 3 + 1;
        uint8_t saved[sizeof(HashState)];
        std::memcpy(saved, &st, sizeof st);
        std::memset(&st, 0xA5, sizeof st);
        std::memcpy(&st, saved, sizeof st);
      }
      uint8_t out[kMaxDigestSize];
      ASSERT_EQ(hash_finish(st, out), digest_size(a.alg));
      EXPECT_EQ(to_hex(out, digest_size(a.alg)), r.str("MD")) << r.where();
    }
  }
}

// SHS Monte Carlo (SHAVS §6.4): 100 checkpoints of 1000 chained hashes each.
TEST(Hash, CavpMonteCarlo) {
  for (const auto& a : kAlgs) {
    const auto recs = load_vectors(std::string("sha/") + a.file + "Monte.rsp");
    ASSERT_GE(recs.size(), 101u);
    ASSERT_TRUE(recs[0].has("Seed"));
    std::vector<uint8_t> seed = recs[0].bytes("Seed");
    const size_t n = digest_size(a.alg);
    int checked = 0;
    for (size_t j = 1; j < recs.size(); ++j) {
      std::vector<uint8_t> md[3] = {seed, seed, seed};
      for (int i = 3; i < 1003; ++i) {
        HashState st;
        ASSERT_EQ(hash_start(st, a.alg), Status::ok);
        for (auto& m : md) hash_update(st, m);
        std::vector<uint8_t> next(n);
        ASSERT_EQ(hash_finish(st, next), n);
        md[0] = std::move(md[1]);
        md[1] = std::move(md[2]);
        md[2] = std::move(next);
      }
      seed = md[2];
      ASSERT_EQ(to_hex(seed), recs[j].str("MD")) << recs[j].where();
      ++checked;
    }
    EXPECT_EQ(checked, 100) << a.file;
  }
}

TEST(Hmac, RfcVectors) {
  const struct {
    HashAlg alg;
    const char* file;
  } files[] = {{HashAlg::sha1, "hmac/rfc-2202-sha1.txt"},
               {HashAlg::sha256, "hmac/rfc-4231-sha256.txt"},
               {HashAlg::sha384, "hmac/rfc-4231-sha384.txt"},
               {HashAlg::sha512, "hmac/rfc-4231-sha512.txt"}};
  for (const auto& f : files) {
    const auto recs = load_vectors(f.file);
    ASSERT_GE(recs.size(), 5u) << f.file;
    for (const auto& r : recs) {
      const auto key = r.bytes("Key");
      const auto msg = r.bytes("Msg");
      uint8_t out[kMaxDigestSize];
      ASSERT_EQ(hmac(f.alg, key, msg, out), digest_size(f.alg));
      EXPECT_EQ(to_hex(out, digest_size(f.alg)), r.str("MD")) << r.where();

      // Incremental, with the state copied midway (HMAC sequences are context-saved too).
      HmacState st;
      ASSERT_EQ(hmac_start(st, f.alg, key), Status::ok);
      hmac_update(st, Bytes(msg).first(msg.size() / 2));
      HmacState copy;
      std::memcpy(&copy, &st, sizeof st);
      hmac_update(copy, Bytes(msg).subspan(msg.size() / 2));
      ASSERT_EQ(hmac_finish(copy, out), digest_size(f.alg));
      EXPECT_EQ(to_hex(out, digest_size(f.alg)), r.str("MD")) << r.where();
    }
  }
}

TEST(Hash, RejectsBadAlgorithmAndShortOutput) {
  HashState st;
  EXPECT_EQ(hash_start(st, static_cast<HashAlg>(0x0010)), Status::unsupported);
  EXPECT_EQ(hash_start(st, static_cast<HashAlg>(0x0012)), Status::unsupported);  // SM3
  uint8_t small[31];
  const uint8_t msg[3] = {1, 2, 3};
  EXPECT_EQ(hash(HashAlg::sha256, msg, small), 0u);
  uint8_t out[64];
  EXPECT_EQ(hash(static_cast<HashAlg>(0x0099), msg, out), 0u);
  HmacState h;
  EXPECT_EQ(hmac_start(h, static_cast<HashAlg>(0x0099), msg), Status::unsupported);
  EXPECT_EQ(hmac(static_cast<HashAlg>(0x0099), msg, msg, out), 0u);
  EXPECT_TRUE(hash_supported(0x000B));
  EXPECT_TRUE(hash_supported(0x0004));
  EXPECT_FALSE(hash_supported(0x0012));
  EXPECT_FALSE(hash_supported(0x0000));
}

TEST(Util, CtEqual) {
  const uint8_t a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 4}, c[4] = {1, 2, 3, 5};
  EXPECT_TRUE(ct_equal(a, b));
  EXPECT_FALSE(ct_equal(a, c));
  EXPECT_FALSE(ct_equal(Bytes(a, 3), Bytes(b, 4)));
  EXPECT_TRUE(ct_equal(Bytes(), Bytes()));
  for (size_t i = 0; i < 4; ++i) {
    uint8_t d[4] = {1, 2, 3, 4};
    d[i] ^= 0x80;
    EXPECT_FALSE(ct_equal(a, d)) << i;
  }
}

TEST(Util, Zeroize) {
  uint8_t buf[37];
  std::memset(buf, 0xCC, sizeof buf);
  zeroize(buf, sizeof buf);
  for (uint8_t b : buf) EXPECT_EQ(b, 0);
  struct {
    uint64_t x = ~0ull;
    uint8_t y[5] = {1, 2, 3, 4, 5};
  } obj;
  zeroize(obj);
  EXPECT_EQ(obj.x, 0u);
  for (uint8_t b : obj.y) EXPECT_EQ(b, 0);
  zeroize(nullptr, 10);  // tolerated
}

TEST(Backend, Name) {
  const std::string name = backend_name();
  EXPECT_TRUE(name == "openssl" || name == "mbedtls") << name;
}

}  // namespace
}  // namespace utpm::crypto
