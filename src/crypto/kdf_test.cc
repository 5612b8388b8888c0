// KDFa / KDFe / MGF1: the SP 800-108 core against NIST CAVP, and the TPM compositions against
// vectors computed with independent implementations (testdata/gen_independent_vectors.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/kdf.h"
#include "test/vectors.h"

namespace utpm::crypto {
namespace {

using test::to_hex;

HashAlg alg_named(const std::string& n) {
  if (n == "SHA1" || n == "HMAC_SHA1") return HashAlg::sha1;
  if (n == "SHA256" || n == "HMAC_SHA256") return HashAlg::sha256;
  if (n == "SHA384" || n == "HMAC_SHA384") return HashAlg::sha384;
  if (n == "SHA512" || n == "HMAC_SHA512") return HashAlg::sha512;
  return static_cast<HashAlg>(0);
}

Bytes text(const std::string& s) {
  return Bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(Kdf, CavpSp800108CounterHmac) {
  const auto recs = test::load_vectors("kdf/sp800-108-ctr-hmac.rsp");
  ASSERT_GE(recs.size(), 160u);
  for (const auto& r : recs) {
    const HashAlg alg = alg_named(r.section.at("PRF"));
    ASSERT_NE(digest_size(alg), 0u) << r.where();
    std::vector<uint8_t> out(static_cast<size_t>(r.num("L") / 8));
    ASSERT_EQ(kdf_sp800_108_ctr_hmac(alg, r.bytes("KI"), r.bytes("FixedInputData"), out),
              Status::ok);
    EXPECT_EQ(to_hex(out), r.str("KO")) << r.where();
  }
}

TEST(Kdf, KdfaIndependentVectors) {
  const auto recs = test::load_vectors("kdf/kdfa.txt");
  ASSERT_EQ(recs.size(), 32u);
  for (const auto& r : recs) {
    const HashAlg alg = alg_named(r.str("Hash"));
    const auto bits = static_cast<uint32_t>(r.num("Bits"));
    std::vector<uint8_t> out((bits + 7) / 8);
    ASSERT_EQ(kdfa(alg, r.bytes("Key"), text(r.str("Label")), r.bytes("ContextU"),
                   r.bytes("ContextV"), bits, out),
              Status::ok);
    EXPECT_EQ(to_hex(out), r.str("Out")) << r.where();
    // The label may also be handed over with its terminator: same result.
    std::string with_nul = r.str("Label");
    with_nul.push_back('\0');
    std::vector<uint8_t> out2(out.size());
    ASSERT_EQ(kdfa(alg, r.bytes("Key"), text(with_nul), r.bytes("ContextU"), r.bytes("ContextV"),
                   bits, out2),
              Status::ok);
    EXPECT_EQ(out2, out) << r.where();
  }
}

TEST(Kdf, KdfeIndependentVectors) {
  const auto recs = test::load_vectors("kdf/kdfe.txt");
  ASSERT_EQ(recs.size(), 24u);
  for (const auto& r : recs) {
    const auto bits = static_cast<uint32_t>(r.num("Bits"));
    std::vector<uint8_t> out((bits + 7) / 8);
    ASSERT_EQ(kdfe(alg_named(r.str("Hash")), r.bytes("Z"), text(r.str("Label")),
                   r.bytes("PartyU"), r.bytes("PartyV"), bits, out),
              Status::ok);
    EXPECT_EQ(to_hex(out), r.str("Out")) << r.where();
  }
}

TEST(Kdf, Mgf1IndependentVectors) {
  const auto recs = test::load_vectors("kdf/mgf1.txt");
  ASSERT_EQ(recs.size(), 20u);
  for (const auto& r : recs) {
    std::vector<uint8_t> out(r.bytes("Out").size());
    ASSERT_EQ(mgf1(alg_named(r.str("Hash")), r.bytes("Seed"), out), Status::ok);
    EXPECT_EQ(to_hex(out), r.str("Out")) << r.where();
  }
}

TEST(Kdf, KdfaIsTheSp800108CoreWithTpmFixedData) {
  // KDFa(bits) == SP800-108(Label||0||U||V||[bits]) with the top octet masked.
  const uint8_t key[32] = {1, 2, 3};
  const uint8_t u[5] = {9, 9, 9, 9, 9};
  const uint8_t v[3] = {7, 7, 7};
  for (uint32_t bits : {1u, 7u, 8u, 13u, 255u, 256u, 1029u}) {
    std::vector<uint8_t> a((bits + 7) / 8), b(a.size());
    ASSERT_EQ(kdfa(HashAlg::sha256, key, text("CFB"), u, v, bits, a), Status::ok);
    std::vector<uint8_t> fixed = {'C', 'F', 'B', 0, 9, 9, 9, 9, 9, 7, 7, 7};
    for (int s = 24; s >= 0; s -= 8) fixed.push_back(static_cast<uint8_t>(bits >> s));
    ASSERT_EQ(kdf_sp800_108_ctr_hmac(HashAlg::sha256, key, fixed, b), Status::ok);
    if (bits % 8) {
      EXPECT_EQ(a[0] >> (bits % 8), 0) << bits;
      b[0] = static_cast<uint8_t>(b[0] & ((1u << (bits % 8)) - 1));
    }
    EXPECT_EQ(a, b) << bits;
  }
}

TEST(Kdf, KdfaXorMasksEveryOctetOfLargeData) {
  // The XOR obfuscation mask for data of any size: data ^ SP800-108(Label||0||U||V||[8*len]),
  // across block boundaries and far beyond any single buffer (parameter encryption of a
  // 4 KB TPM2B must not leave a tail in clear).
  const uint8_t key[20] = {5, 4, 3};
  const uint8_t u[16] = {1}, v[16] = {2};
  for (HashAlg alg : {HashAlg::sha1, HashAlg::sha256, HashAlg::sha384}) {
    for (size_t len : {size_t{1}, size_t{19}, size_t{20}, size_t{33}, size_t{1024}, size_t{1025}, size_t{4093}}) {
      std::vector<uint8_t> data(len);
      for (size_t i = 0; i < len; ++i) data[i] = static_cast<uint8_t>(i * 7);
      std::vector<uint8_t> masked = data;
      ASSERT_EQ(kdfa_xor(alg, key, text("XOR"), u, v, masked), Status::ok);
      std::vector<uint8_t> fixed = {'X', 'O', 'R', 0};
      fixed.insert(fixed.end(), std::begin(u), std::end(u));
      fixed.insert(fixed.end(), std::begin(v), std::end(v));
      const uint32_t bits = static_cast<uint32_t>(len * 8);
      for (int s = 24; s >= 0; s -= 8) fixed.push_back(static_cast<uint8_t>(bits >> s));
      std::vector<uint8_t> mask(len);
      ASSERT_EQ(kdf_sp800_108_ctr_hmac(alg, key, fixed, mask), Status::ok);
      size_t unchanged = 0;
      for (size_t i = 0; i < len; ++i) {
        ASSERT_EQ(masked[i], data[i] ^ mask[i]) << "octet " << i << " of " << len;
        unchanged += masked[i] == data[i];
      }
      EXPECT_LT(unchanged, len / 8 + 2) << "most octets must change";
    }
  }
  std::vector<uint8_t> none;
  EXPECT_EQ(kdfa_xor(HashAlg::sha256, key, text("XOR"), u, v, none), Status::ok);
  EXPECT_EQ(kdfa_xor(static_cast<HashAlg>(0x55), key, text("XOR"), u, v, MutBytes(none)), Status::unsupported);
}

TEST(Kdf, KdfaStreamGivesTheKdfaOctetsInPiecesOfAnySize) {
  // The stream against the SP 800-108 core (CAVP-checked above) with the TPM's fixed data,
  // read in uneven pieces across block boundaries, up to its end and one octet past it.
  const uint8_t key[32] = {9, 8, 7};
  const uint8_t ctx[5] = {1, 2, 3, 4, 5};
  for (HashAlg alg : {HashAlg::sha1, HashAlg::sha256, HashAlg::sha384}) {
    for (const std::string& label : {std::string("DERIVE"), std::string("DERIVE\0", 7), std::string()}) {
      const uint32_t bits = 1024;
      std::vector<uint8_t> fixed(label.begin(), label.end());
      if (fixed.empty() || fixed.back() != 0) fixed.push_back(0);  // the zero, not doubled
      fixed.insert(fixed.end(), std::begin(ctx), std::end(ctx));
      for (int sh = 24; sh >= 0; sh -= 8) fixed.push_back(static_cast<uint8_t>(bits >> sh));
      const size_t dsize = digest_size(alg);
      const size_t whole = bits / 8 / dsize * dsize;  // the stream gives whole blocks only
      std::vector<uint8_t> expect(whole);
      ASSERT_EQ(kdf_sp800_108_ctr_hmac(alg, key, fixed, expect), Status::ok);
      KdfaStream st;
      ASSERT_EQ(kdfa_stream_start(st, alg, key, text(label), ctx, {}, bits), Status::ok);
      std::vector<uint8_t> got;
      for (size_t piece = 1; got.size() < whole; piece = piece % 37 + 3) {
        std::vector<uint8_t> part(std::min(piece, whole - got.size()));
        ASSERT_EQ(kdfa_stream_read(st, part), Status::ok);
        got.insert(got.end(), part.begin(), part.end());
      }
      EXPECT_EQ(to_hex(got), to_hex(expect)) << "label size " << label.size();
      uint8_t more[1];
      EXPECT_EQ(kdfa_stream_read(st, more), Status::bad_input) << "past the KDFa's octets";
    }
  }
  KdfaStream st;
  EXPECT_EQ(kdfa_stream_start(st, HashAlg::sha256, key, text("X"), {}, {}, 12), Status::bad_input);
  EXPECT_EQ(kdfa_stream_start(st, static_cast<HashAlg>(0x55), key, text("X"), {}, {}, 256), Status::unsupported);
}

TEST(Kdf, RejectsBadSizes) {
  const uint8_t key[16] = {};
  std::vector<uint8_t> out(32);
  EXPECT_EQ(kdfa(HashAlg::sha256, key, text("X"), {}, {}, 0, MutBytes()), Status::bad_input);
  EXPECT_EQ(kdfa(HashAlg::sha256, key, text("X"), {}, {}, 255, MutBytes(out).first(31)),
            Status::bad_input);
  EXPECT_EQ(kdfa(HashAlg::sha256, key, text("X"), {}, {}, 256, MutBytes(out).first(31)),
            Status::bad_input);
  EXPECT_EQ(kdfa(static_cast<HashAlg>(0x55), key, text("X"), {}, {}, 256, out),
            Status::unsupported);
  EXPECT_EQ(kdfe(HashAlg::sha256, key, text("X"), {}, {}, 8, out), Status::bad_input);
  EXPECT_EQ(mgf1(static_cast<HashAlg>(0x55), key, out), Status::unsupported);
}

}  // namespace
}  // namespace utpm::crypto

namespace utpm::crypto {
namespace {
// KDF2 = hash-counter KDF from 1 (Python: SHA-256(z || 00000001) || SHA-256(z || 00000002),
// z = 00 01 .. 3f, first 40 octets).
TEST(Kdf2, KnownAnswer) {
  uint8_t z[64];
  for (int i = 0; i < 64; ++i) z[i] = static_cast<uint8_t>(i);
  uint8_t out[40];
  ASSERT_EQ(kdf2(HashAlg::sha256, z, out), Status::ok);
  EXPECT_EQ(test::to_hex(out, sizeof out), "3ebdb02262250f7376ca8cc04d2835b7ff9640fa05156321ffdb2263c912b13c4d433c369876a699");
  uint8_t m[40];
  ASSERT_EQ(mgf1(HashAlg::sha256, z, m), Status::ok);  // MGF1 starts at 0: its second block is KDF2's first
  EXPECT_EQ(0, std::memcmp(m + 32, out, 8));
}
}  // namespace
}  // namespace utpm::crypto
