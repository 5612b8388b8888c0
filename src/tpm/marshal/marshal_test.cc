// Round trips and every malformed-input path of the generic marshalling mechanism and the
// Part 2 types the engine uses so far.
#include "tpm/marshal/marshal.h"

#include <gtest/gtest.h>

#include <vector>

#include "tpm/types/object.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {
namespace {

template <class T>
std::vector<uint8_t> to_bytes(const T& v) {
  std::vector<uint8_t> buf(4096);
  Writer w(buf);
  marshal(w, v);
  EXPECT_FALSE(w.overflow());
  buf.resize(w.size());
  return buf;
}

template <class T>
TPM_RC from_bytes(const std::vector<uint8_t>& b, T& v, size_t* left = nullptr) {
  Reader r(b);
  TPM_RC rc = unmarshal(r, v);
  if (left) *left = r.remaining();
  return rc;
}

TEST(Marshal, PrimitivesAreBigEndian) {
  std::vector<uint8_t> b = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
  uint64_t v64;
  ASSERT_EQ(from_bytes(b, v64), TPM_RC_SUCCESS);
  EXPECT_EQ(v64, 0x0102030405060708ull);
  uint32_t v32;
  ASSERT_EQ(from_bytes(b, v32), TPM_RC_SUCCESS);
  EXPECT_EQ(v32, 0x01020304u);
  EXPECT_EQ(to_bytes(uint16_t{0xABCD}), (std::vector<uint8_t>{0xAB, 0xCD}));
}

TEST(Marshal, TruncatedPrimitivesAreInsufficient) {
  std::vector<uint8_t> b = {0x01, 0x02, 0x03};
  uint32_t v32;
  EXPECT_EQ(from_bytes(b, v32), TPM_RC_INSUFFICIENT);
  uint64_t v64;
  EXPECT_EQ(from_bytes(b, v64), TPM_RC_INSUFFICIENT);
  uint8_t v8;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{}, v8), TPM_RC_INSUFFICIENT);
}

// A failed unmarshal must leave nothing a later use could read past the buffer with: the size
// or count stays within capacity (zero), and marshal of a corrupted size writes at most the
// capacity (issue 18 item 11).
TEST(Marshal, FailedUnmarshalLeavesNoOutOfRangeSize) {
  TPM2B_DIGEST d;
  ASSERT_TRUE(d.assign(std::vector<uint8_t>{9, 9, 9}));
  std::vector<uint8_t> too_big = {0, uint8_t(TPM2B_DIGEST::kCapacity + 1)};
  too_big.resize(2 + TPM2B_DIGEST::kCapacity + 1, 7);
  EXPECT_EQ(from_bytes(too_big, d), TPM_RC_SIZE);
  EXPECT_EQ(d.size, 0u);
  ASSERT_TRUE(d.assign(std::vector<uint8_t>{9, 9, 9}));
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 10, 1, 2}, d), TPM_RC_INSUFFICIENT) << "10 announced, 2 present";
  EXPECT_EQ(d.size, 0u) << "not a size whose bytes were never read";

  TPML_DIGEST l;
  l.count = 2;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 0, 0, 9}, l), TPM_RC_SIZE);
  EXPECT_EQ(l.count, 0u);
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 0, 0, 2, 0, 1, 5}, l), TPM_RC_INSUFFICIENT);
  EXPECT_EQ(l.count, 0u);

  TPMS_PCR_SELECTION sel;
  sel.sizeofSelect = 3;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 0x0B, 200, 1, 2, 3}, sel), TPM_RC_VALUE);
  EXPECT_EQ(sel.sizeofSelect, 0u);
}

TEST(Marshal, MarshalClampsACorruptedSizeToTheCapacity) {
  TPM2B_DIGEST d;
  d.size = 0xFFFF;  // corrupted: larger than the buffer
  auto b = to_bytes(d);
  ASSERT_EQ(b.size(), 2 + TPM2B_DIGEST::kCapacity);
  EXPECT_EQ(b[0] << 8 | b[1], int(TPM2B_DIGEST::kCapacity));
  TPML_DIGEST l;
  l.count = 1000;
  b = to_bytes(l);
  EXPECT_EQ(uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3], uint32_t(TPML_DIGEST::kCapacity));
  TPMS_PCR_SELECTION sel;
  sel.hash.value = TPM_ALG_SHA256;
  sel.sizeofSelect = 200;
  b = to_bytes(sel);
  EXPECT_EQ(b.size(), 3u + profile::kPcrSelectMax);
  EXPECT_EQ(b[2], profile::kPcrSelectMax);
}

TEST(Marshal, Tpm2bRoundTripAndLimits) {
  TPM2B_DIGEST d;
  std::vector<uint8_t> payload = {1, 2, 3, 4, 5};
  ASSERT_TRUE(d.assign(payload));
  auto b = to_bytes(d);
  EXPECT_EQ(b, (std::vector<uint8_t>{0, 5, 1, 2, 3, 4, 5}));
  TPM2B_DIGEST back;
  ASSERT_EQ(from_bytes(b, back), TPM_RC_SUCCESS);
  EXPECT_EQ(back.size, 5);
  EXPECT_EQ(std::vector<uint8_t>(back.buffer, back.buffer + 5), payload);

  // size above the type's capacity
  std::vector<uint8_t> big = {0, uint8_t(profile::kMaxDigestSize + 1)};
  big.resize(big.size() + profile::kMaxDigestSize + 1);
  EXPECT_EQ(from_bytes(big, back), TPM_RC_SIZE);
  // size says more than is there
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 4, 1, 2}, back), TPM_RC_INSUFFICIENT);
  // missing size
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0}, back), TPM_RC_INSUFFICIENT);
  EXPECT_FALSE(d.assign(std::vector<uint8_t>(profile::kMaxDigestSize + 1)));
}

TEST(Marshal, InterfaceTypesCheckValuesAndNull) {
  TPMI_ALG_HASH h;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x0B}, h), TPM_RC_SUCCESS);
  EXPECT_EQ(h, TPM_ALG_SHA256);
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x10}, h), TPM_RC_HASH) << "NULL not allowed without +";
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x06}, h), TPM_RC_HASH) << "AES is not a hash";
  TPMI_ALG_HASH_NULL hn;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x10}, hn), TPM_RC_SUCCESS);
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x0D}, hn), profile::kSha512 ? TPM_RC_SUCCESS : TPM_RC_HASH)
      << "SHA-512 only in the host profile";
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x12}, hn), TPM_RC_HASH) << "SM3-256 not implemented";
  TPMI_YES_NO_CHECKED yn;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{2}, yn), TPM_RC_VALUE);
  TPM_SU_CHECKED su;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 2}, su), TPM_RC_VALUE);
  TPM_CLOCK_ADJUST adj;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0xFD}, adj), TPM_RC_SUCCESS);
  EXPECT_EQ(adj.value, -3);
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{4}, adj), TPM_RC_VALUE);
  TPMI_RH_HIERARCHY_NULL hier;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x40, 0, 0, 7}, hier), TPM_RC_SUCCESS);
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x40, 0, 0, 9}, hier), TPM_RC_VALUE);
  TPMI_RH_HIERARCHY hier_nn;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x40, 0, 0, 7}, hier_nn), TPM_RC_VALUE);
}

TEST(Marshal, TpmtHaSelectsDigestSizeByAlgorithm) {
  TPMT_HA ha;
  ha.hashAlg.value = TPM_ALG_SHA1;
  for (int i = 0; i < 20; ++i) ha.digest.bytes[i] = uint8_t(i);
  auto b = to_bytes(ha);
  ASSERT_EQ(b.size(), 2u + 20u);
  TPMT_HA back;
  ASSERT_EQ(from_bytes(b, back), TPM_RC_SUCCESS);
  EXPECT_EQ(back.hashAlg, TPM_ALG_SHA1);
  EXPECT_EQ(back.digest.bytes[19], 19);
  b.pop_back();
  EXPECT_EQ(from_bytes(b, back), TPM_RC_INSUFFICIENT);
  ha.hashAlg.value = TPM_ALG_NULL;
  EXPECT_EQ(to_bytes(ha).size(), 2u) << "a NULL hash has an empty digest";
}

TEST(Marshal, ListsCheckCountAndElements) {
  TPML_DIGEST_VALUES l;
  l.count = 2;
  l.items[0].hashAlg.value = TPM_ALG_SHA256;
  l.items[1].hashAlg.value = TPM_ALG_SHA384;
  auto b = to_bytes(l);
  EXPECT_EQ(b.size(), 4u + 2 + 32 + 2 + 48);
  TPML_DIGEST_VALUES back;
  size_t left = 99;
  ASSERT_EQ(from_bytes(b, back, &left), TPM_RC_SUCCESS);
  EXPECT_EQ(left, 0u);
  EXPECT_EQ(back.count, 2u);
  // count above capacity
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 0, 0, uint8_t(kHashCount + 1)}, back), TPM_RC_SIZE);
  // a bad element propagates its own code
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 0, 0, 1, 0x00, 0x06}, back), TPM_RC_HASH);
}

TEST(Marshal, PcrSelectionChecksSizeofSelect) {
  TPMS_PCR_SELECTION s;
  std::vector<uint8_t> ok = {0x00, 0x0B, 3, 0x01, 0x00, 0x80};
  ASSERT_EQ(from_bytes(ok, s), TPM_RC_SUCCESS);
  EXPECT_TRUE(s.selected(0));
  EXPECT_TRUE(s.selected(23));
  EXPECT_FALSE(s.selected(1));
  EXPECT_EQ(to_bytes(s), ok);
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x0B, 2, 1, 0}, s), TPM_RC_VALUE) << "below PCR_SELECT_MIN";
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x0B, 4, 1, 0, 0, 0}, s), TPM_RC_VALUE) << "above PCR_SELECT_MAX";
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x0B, 3, 1}, s), TPM_RC_INSUFFICIENT);
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x05, 3, 1, 0, 0}, s), TPM_RC_HASH);
}

TEST(Marshal, StructuresRoundTrip) {
  TPMS_TIME_INFO t;
  t.time = 0x1122334455667788ull;
  t.clockInfo.clock = 42;
  t.clockInfo.resetCount = 3;
  t.clockInfo.restartCount = 4;
  t.clockInfo.safe = 1;
  auto b = to_bytes(t);
  ASSERT_EQ(b.size(), 8u + 8 + 4 + 4 + 1);
  TPMS_TIME_INFO back;
  ASSERT_EQ(from_bytes(b, back), TPM_RC_SUCCESS);
  EXPECT_EQ(back.time, t.time);
  EXPECT_EQ(back.clockInfo.restartCount, 4u);
  b.resize(b.size() - 1);
  EXPECT_EQ(from_bytes(b, back), TPM_RC_INSUFFICIENT);
}

TEST(Marshal, SizedStructureMustMatchItsSize) {
  Sized<TPMS_CLOCK_INFO> s;
  s.t.clock = 7;
  auto b = to_bytes(s);
  ASSERT_EQ(b.size(), 2u + 17);
  EXPECT_EQ(b[1], 17);
  Sized<TPMS_CLOCK_INFO> back;
  ASSERT_EQ(from_bytes(b, back), TPM_RC_SUCCESS);
  EXPECT_EQ(back.t.clock, 7u);
  auto longer = b;
  longer[1] = 18;
  longer.push_back(0);
  EXPECT_EQ(from_bytes(longer, back), TPM_RC_SIZE) << "bytes left inside the sized area";
  auto shorter = b;
  shorter[1] = 16;
  // Part 2: the size field of a sized structure is "#TPM_RC_SIZE"; the 17th octet is there,
  // the size just does not cover it (docs/conformance.md D1).
  EXPECT_EQ(from_bytes(shorter, back), TPM_RC_SIZE) << "size smaller than the contents";
  auto beyond = b;
  beyond[1] = 18;  // one octet more than the input holds, the contents are complete
  EXPECT_EQ(from_bytes(beyond, back), TPM_RC_SIZE) << "size beyond complete contents";
  auto cut = b;
  cut.pop_back();  // the input ends inside the contents
  EXPECT_EQ(from_bytes(cut, back), TPM_RC_INSUFFICIENT) << "input cut inside the contents";
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 0}, back), TPM_RC_SIZE) << "zero size";
}

// Part 2: TPMT_HA's hashAlg is "+TPMI_ALG_HASH"; TPML_DIGEST_VALUES lists "TPMT_HA
// digests[count]" without '+', so TPM_ALG_NULL there is TPM_RC_HASH, where a TPMT_HA+ takes
// it. TPMS_SYMCIPHER_PARMS.sym (no '+') refuses a NULL TPMT_SYM_DEF_OBJECT with
// TPM_RC_SYMMETRIC (docs/conformance.md D3).
TEST(Marshal, NullSelectorOnlyWhereTheUseHasPlus) {
  const std::vector<uint8_t> null_ha = {0x00, 0x10};
  TPMT_HA ha;
  EXPECT_EQ(from_bytes(null_ha, ha), TPM_RC_SUCCESS) << "TPMT_HA+ takes TPM_ALG_NULL";
  TPML_DIGEST_VALUES list;
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0, 0, 0, 1, 0x00, 0x10}, list), TPM_RC_HASH);
  EXPECT_EQ(list.count, 0u);
  std::vector<uint8_t> sha1 = {0, 0, 0, 1, 0x00, 0x04};
  sha1.resize(sha1.size() + 20, 0xAB);
  ASSERT_EQ(from_bytes(sha1, list), TPM_RC_SUCCESS);
  EXPECT_EQ(list.items[0].hashAlg, TPM_ALG_SHA1);
  EXPECT_EQ(to_bytes(list), sha1) << "NoNull marshals as its structure";
  TPMT_SYM_DEF_OBJECT sym;
  EXPECT_EQ(from_bytes(null_ha, sym), TPM_RC_SUCCESS) << "TPMT_SYM_DEF_OBJECT+ takes TPM_ALG_NULL";
  TPMS_SYMCIPHER_PARMS parms;
  EXPECT_EQ(from_bytes(null_ha, parms), TPM_RC_SYMMETRIC);
  EXPECT_EQ(from_bytes(std::vector<uint8_t>{0x00, 0x06, 0x00, 0x80, 0x00, 0x43}, parms), TPM_RC_SUCCESS);
  EXPECT_EQ(parms.sym.keyBits, 128);
}

TEST(Marshal, WriterReportsOverflowInsteadOfWritingPastEnd) {
  uint8_t buf[5] = {0, 0, 0, 0, 0xEE};
  Writer w(std::span<uint8_t>(buf, 4));
  w.u32(0x01020304);
  EXPECT_FALSE(w.overflow());
  w.u8(9);
  EXPECT_TRUE(w.overflow());
  EXPECT_EQ(buf[4], 0xEE);
}

}  // namespace
}  // namespace utpm::tpm
