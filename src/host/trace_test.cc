// Redaction of secrets in traces (trace.h): the octets of each secret field are zeroed, sizes and
// everything else kept, and the field is named. Frames are laid out here from Part 3's tables.
#include "host/trace.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace utpm::host {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}
void put2b(Bytes& b, const Bytes& v) {
  put16(b, static_cast<uint32_t>(v.size()));
  b.insert(b.end(), v.begin(), v.end());
}
Bytes point(uint8_t x, uint8_t y) {  // TPM2B_ECC_POINT { size, TPM2B x, TPM2B y }
  Bytes inner;
  put2b(inner, Bytes(32, x));
  put2b(inner, Bytes(32, y));
  Bytes out;
  put2b(out, inner);
  return out;
}
// A response with no handle and no sessions: header, then the parameters.
Bytes response(const Bytes& params) {
  Bytes r;
  put16(r, 0x8001);
  put32(r, static_cast<uint32_t>(10 + params.size()));
  put32(r, 0);
  r.insert(r.end(), params.begin(), params.end());
  return r;
}
size_t count(const Bytes& b, uint8_t v) { return static_cast<size_t>(std::count(b.begin(), b.end(), v)); }

TEST(TraceRedaction, EccDecryptPlainTextAndZGen2PhaseSecretsAreZeroed) {
  Bytes plain;
  put2b(plain, Bytes(20, 0xAB));
  Bytes r = response(plain);
  const size_t size = r.size();
  auto names = redact_response(0x19A, r);  // ECC_Decrypt
  EXPECT_EQ(names, std::vector<std::string>{"plainText"});
  EXPECT_EQ(r.size(), size);
  EXPECT_EQ(count(r, 0xAB), 0u);
  EXPECT_EQ(r[11], 20);  // the size stays

  Bytes z = point(0x71, 0x72);
  const Bytes z2 = point(0x73, 0x74);
  z.insert(z.end(), z2.begin(), z2.end());
  r = response(z);
  names = redact_response(0x18D, r);  // ZGen_2Phase
  EXPECT_EQ(names, (std::vector<std::string>{"outZ1", "outZ2"}));
  for (int v : {0x71, 0x72, 0x73, 0x74}) EXPECT_EQ(count(r, static_cast<uint8_t>(v)), 0u) << v;
}

TEST(TraceRedaction, EccEncryptPlainTextInTheCommandIsZeroed) {
  Bytes c;
  put16(c, 0x8001);
  put32(c, 0);  // size patched below
  put32(c, 0x199);
  put32(c, 0x80000001);  // keyHandle
  put2b(c, Bytes(16, 0xCD));
  put16(c, 0x0010);  // inScheme TPM_ALG_NULL
  c[5] = static_cast<uint8_t>(c.size());
  const auto names = redact_command(c);
  EXPECT_EQ(names, std::vector<std::string>{"plainText"});
  EXPECT_EQ(count(c, 0xCD), 0u);
  EXPECT_EQ(c[33], 0x10);  // inScheme untouched (header 10, handle 4, plainText 2 + 16)
}

TEST(TraceRedaction, PublicResponsesAreLeftAlone) {
  Bytes digest;
  put2b(digest, Bytes(32, 0x5A));
  Bytes r = response(digest);
  const Bytes before = r;
  EXPECT_TRUE(redact_response(0x17D, r).empty());  // Hash: outHash is public
  EXPECT_EQ(r, before);
}

}  // namespace
}  // namespace utpm::host
