// NV indices (Part 3 §31): every NV_DefineSpace consistency rule with its response code, each
// index type's write/read rules, locks across Startup(CLEAR)/(STATE), authorization choices,
// Clear, capacity and capabilities. Expected values are computed here (OpenSSL), never taken
// from the TPM's own output.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <set>

#include "tpm/core/command.h"
#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"
#include "tpm/types/constants.h"
#include "tpm/types/nv.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::Response;
using testing::run;
using Bytes = std::vector<uint8_t>;
using A = TPMA_NV;

constexpr TPM_HANDLE kIdx = 0x01500000;
constexpr uint32_t kOwnerRW = A::OWNERREAD | A::OWNERWRITE;
constexpr uint32_t kAuthRW = A::AUTHREAD | A::AUTHWRITE;
constexpr uint32_t nt(TPM_NT t) { return uint32_t{t} << 4; }

Bytes sha256(const Bytes& in) {
  Bytes out(32);
  unsigned n = 0;
  EVP_Digest(in.data(), in.size(), out.data(), &n, EVP_sha256(), nullptr);
  return out;
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Def {
  TPM_HANDLE index = kIdx;
  uint32_t attrs = kOwnerRW;
  uint16_t size = 32;
  TPM_ALG_ID name_alg = TPM_ALG_SHA256;
  Bytes policy = {};
  Bytes auth = {};
  TPM_HANDLE creator = TPM_RH_OWNER;
};

Bytes nv_public(const Def& d) {
  Bytes out;
  auto u16 = [&](uint16_t v) { out.push_back(uint8_t(v >> 8)); out.push_back(uint8_t(v)); };
  auto u32 = [&](uint32_t v) { u16(uint16_t(v >> 16)); u16(uint16_t(v)); };
  u32(d.index);
  u16(d.name_alg);
  u32(d.attrs);
  u16(uint16_t(d.policy.size()));
  out.insert(out.end(), d.policy.begin(), d.policy.end());
  u16(d.size);
  return out;
}

class Nv : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }

  uint32_t define(const Def& d) {
    Bytes pub = nv_public(d);
    return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_DefineSpace).u32(d.creator).pw_session().tpm2b(d.auth).tpm2b(pub).bytes()).rc;
  }
  uint32_t write(TPM_HANDLE auth, TPM_HANDLE idx, const Bytes& data, uint16_t offset = 0, const Bytes& pw = {}) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Write).u32(auth).u32(idx).pw_session(pw).tpm2b(data).u16(offset).bytes()).rc;
  }
  Response read(TPM_HANDLE auth, TPM_HANDLE idx, uint16_t size, uint16_t offset = 0, const Bytes& pw = {}) {
    Response r = run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Read).u32(auth).u32(idx).pw_session(pw).u16(size).u16(offset).bytes());
    if (r.rc == 0) r.u32();  // parameterSize
    return r;
  }
  Bytes read_ok(TPM_HANDLE auth, TPM_HANDLE idx, uint16_t size, uint16_t offset = 0, const Bytes& pw = {}) {
    Response r = read(auth, idx, size, offset, pw);
    EXPECT_EQ(r.rc, 0u);
    return r.rc == 0 ? r.tpm2b() : Bytes{};
  }
  uint32_t simple(TPM_CC cc, TPM_HANDLE auth, TPM_HANDLE idx, const Bytes& pw = {}) {
    return run(tpm, CommandBuilder(0x8002, cc).u32(auth).u32(idx).pw_session(pw).bytes()).rc;
  }
  uint32_t undefine(TPM_HANDLE idx, TPM_HANDLE auth = TPM_RH_OWNER) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_UndefineSpace).u32(auth).u32(idx).pw_session().bytes()).rc;
  }
  // ReadPublic: attributes and Name.
  std::pair<uint32_t, Bytes> read_public(TPM_HANDLE idx) {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_NV_ReadPublic).u32(idx).bytes());
    EXPECT_EQ(r.rc, 0u);
    if (r.rc) return {};
    Bytes pub = r.tpm2b();
    Bytes name = r.tpm2b();
    uint32_t attrs = uint32_t(pub[6]) << 24 | uint32_t(pub[7]) << 16 | uint32_t(pub[8]) << 8 | pub[9];
    EXPECT_EQ(name, cat({0x00, 0x0B}, sha256(pub))) << "Name = nameAlg || H(TPMS_NV_PUBLIC)";
    return {attrs, name};
  }
  void restart(TPM_SU shutdown_type, TPM_SU startup_type) {
    ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(shutdown_type).bytes()).rc, 0u);
    tpm.reset();
    ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(startup_type).bytes()).rc, 0u);
  }
  std::vector<uint32_t> nv_handles() {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_HANDLES).u32(0x01000000).u32(1000).bytes());
    EXPECT_EQ(r.rc, 0u);
    r.u8();
    r.u32();
    std::vector<uint32_t> h(r.u32());
    for (auto& v : h) v = r.u32();
    return h;
  }
  uint32_t property(TPM_PT pt) {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_TPM_PROPERTIES).u32(pt).u32(1).bytes());
    EXPECT_EQ(r.rc, 0u);
    r.u8();
    r.u32();
    EXPECT_EQ(r.u32(), 1u);
    EXPECT_EQ(r.u32(), pt);
    return r.u32();
  }

  FakePlatform platform;
  Tpm tpm{platform};
};

const uint32_t kAttrP2 = rc_param(TPM_RC_ATTRIBUTES, 2);
const uint32_t kSizeP2 = rc_param(TPM_RC_SIZE, 2);

TEST_F(Nv, DefineSpaceConsistencyRules) {
  struct Case {
    const char* what;
    Def d;
    uint32_t rc;
  };
  const Case cases[] = {
      {"authPolicy neither empty nor digest size", {.policy = Bytes(20, 1)}, kSizeP2},
      {"authValue longer than the nameAlg digest", {.auth = Bytes(33, 1)}, rc_param(TPM_RC_SIZE, 1)},
      {"unknown type", {.attrs = kOwnerRW | nt(3)}, kAttrP2},
      {"ordinary beyond NV_INDEX_MAX", {.size = uint16_t(profile::kMaxNvIndexSize + 1)}, kSizeP2},
      {"extend not digest size", {.attrs = kOwnerRW | nt(TPM_NT_EXTEND), .size = 20}, kSizeP2},
      {"counter not 8", {.attrs = kOwnerRW | nt(TPM_NT_COUNTER), .size = 4}, kSizeP2},
      {"bits not 8", {.attrs = kOwnerRW | nt(TPM_NT_BITS), .size = 9}, kSizeP2},
      {"pin pass not 8", {.attrs = kOwnerRW | nt(TPM_NT_PIN_PASS), .size = 16}, kSizeP2},
      {"counter with CLEAR_STCLEAR", {.attrs = kOwnerRW | nt(TPM_NT_COUNTER) | A::CLEAR_STCLEAR, .size = 8}, kAttrP2},
      {"pin fail without NO_DA", {.attrs = kOwnerRW | nt(TPM_NT_PIN_FAIL), .size = 8}, kAttrP2},
      {"pin pass with AUTHWRITE", {.attrs = kOwnerRW | A::AUTHWRITE | nt(TPM_NT_PIN_PASS), .size = 8}, kAttrP2},
      {"pin fail with GLOBALLOCK", {.attrs = kOwnerRW | A::NO_DA | A::GLOBALLOCK | nt(TPM_NT_PIN_FAIL), .size = 8}, kAttrP2},
      {"pin pass with WRITEDEFINE", {.attrs = kOwnerRW | A::WRITEDEFINE | nt(TPM_NT_PIN_PASS), .size = 8}, kAttrP2},
      {"WRITTEN set", {.attrs = kOwnerRW | A::WRITTEN}, kAttrP2},
      {"WRITELOCKED set", {.attrs = kOwnerRW | A::WRITELOCKED}, kAttrP2},
      {"READLOCKED set", {.attrs = kOwnerRW | A::READLOCKED}, kAttrP2},
      {"no way to read", {.attrs = A::OWNERWRITE}, kAttrP2},
      {"no way to write", {.attrs = A::OWNERREAD}, kAttrP2},
      {"CLEAR_STCLEAR with WRITEDEFINE", {.attrs = kOwnerRW | A::CLEAR_STCLEAR | A::WRITEDEFINE}, kAttrP2},
      {"PLATFORMCREATE by the owner", {.attrs = kOwnerRW | A::PLATFORMCREATE}, rc_handle(TPM_RC_ATTRIBUTES, 1)},
      {"platform without PLATFORMCREATE", {.attrs = kOwnerRW, .creator = TPM_RH_PLATFORM}, rc_handle(TPM_RC_ATTRIBUTES, 1)},
      {"POLICY_DELETE by the owner", {.attrs = kOwnerRW | A::POLICY_DELETE}, kAttrP2},
      {"WRITEALL beyond NV_BUFFER_MAX", {.attrs = kOwnerRW | A::WRITEALL, .size = uint16_t(profile::kMaxNvBuffer + 1)}, kSizeP2},
      {"reserved bit", {.attrs = kOwnerRW | (1u << 8)}, rc_param(TPM_RC_RESERVED_BITS, 2)},
      {"not an NV handle", {.index = 0x81000000}, rc_param(TPM_RC_VALUE, 2)},
      {"nameAlg not a hash", {.name_alg = TPM_ALG_NULL}, rc_param(TPM_RC_HASH, 2)},
  };
  for (const Case& k : cases) EXPECT_EQ(define(k.d), k.rc) << k.what;
  EXPECT_TRUE(nv_handles().empty()) << "nothing was defined by a refused DefineSpace";

  // The good ones, and NV_DEFINED for a second definition.
  EXPECT_EQ(define({}), 0u);
  EXPECT_EQ(define({}), TPM_RC_NV_DEFINED);
  EXPECT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | nt(TPM_NT_EXTEND), .size = 32}), 0u);
  EXPECT_EQ(define({.index = kIdx + 2, .attrs = kOwnerRW | nt(TPM_NT_EXTEND), .size = 48, .name_alg = TPM_ALG_SHA384}), 0u);
  EXPECT_EQ(define({.index = kIdx + 3, .attrs = kOwnerRW | A::NO_DA | nt(TPM_NT_PIN_FAIL), .size = 8}), 0u);
  EXPECT_EQ(define({.index = kIdx + 4, .attrs = kOwnerRW | A::PLATFORMCREATE | A::POLICY_DELETE, .creator = TPM_RH_PLATFORM}), 0u);
  EXPECT_EQ(define({.index = kIdx + 5, .size = uint16_t(profile::kMaxNvIndexSize)}), 0u);
  EXPECT_EQ(nv_handles(), (std::vector<uint32_t>{kIdx, kIdx + 1, kIdx + 2, kIdx + 3, kIdx + 4, kIdx + 5}));
  // The largest public area: SHA-384 with a 48-octet authPolicy.
  ASSERT_EQ(define({.index = kIdx + 6, .name_alg = TPM_ALG_SHA384, .policy = Bytes(48, 9), .auth = Bytes(48, 1)}), 0u);
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_NV_ReadPublic).u32(kIdx + 6).bytes());
  ASSERT_EQ(r.rc, 0u);
  Bytes pub = r.tpm2b();
  EXPECT_EQ(pub, nv_public({.index = kIdx + 6, .name_alg = TPM_ALG_SHA384, .policy = Bytes(48, 9)}));
  Bytes name = r.tpm2b();
  Bytes h(48);
  unsigned n = 0;
  EVP_Digest(pub.data(), pub.size(), h.data(), &n, EVP_sha384(), nullptr);
  EXPECT_EQ(name, cat({0x00, 0x0C}, h));
}

TEST_F(Nv, PlatformNeedsPhEnableNv) {
  // HierarchyControl(platform, TPM_RH_PLATFORM_NV, NO)
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_HierarchyControl).u32(TPM_RH_PLATFORM).pw_session().u32(TPM_RH_PLATFORM_NV).u8(0).bytes()).rc, 0u);
  EXPECT_EQ(define({.attrs = kOwnerRW | A::PLATFORMCREATE, .creator = TPM_RH_PLATFORM}), rc_handle(TPM_RC_HIERARCHY, 1));
}

TEST_F(Nv, OrdinaryWriteReadRules) {
  ASSERT_EQ(define({.size = 64}), 0u);
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 4).rc, TPM_RC_NV_UNINITIALIZED);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(4, 'a'), 8), 0u);
  // Octets never written read as 0xFF (as the reference TPM has them).
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 16), cat(Bytes(8, 0xFF), cat(Bytes(4, 'a'), Bytes(4, 0xFF))));
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(1), 65), rc_param(TPM_RC_VALUE, 2));
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(2), 63), TPM_RC_NV_RANGE);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(0), 64), 0u);
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 2, 63).rc, TPM_RC_NV_RANGE);
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 1, 65).rc, rc_param(TPM_RC_VALUE, 2));
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, uint16_t(profile::kMaxNvBuffer + 1)).rc, rc_param(TPM_RC_VALUE, 1));
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(profile::kMaxNvBuffer + 1)), rc_param(TPM_RC_SIZE, 1));
  // WRITTEN is in the public area, so the Name changes with the first write.
  EXPECT_TRUE(read_public(kIdx).first & A::WRITTEN);

  // WRITEALL: only the whole index at once.
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | A::WRITEALL, .size = 16}), 0u);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 1)), TPM_RC_NV_RANGE);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(16, 1)), 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 1, 16), Bytes(16, 1));

  // The largest index, written and read back in NV_BUFFER_MAX pieces.
  const uint16_t big = uint16_t(profile::kMaxNvIndexSize);
  ASSERT_EQ(define({.index = kIdx + 2, .size = big}), 0u);
  Bytes all(big);
  for (size_t i = 0; i < all.size(); ++i) all[i] = uint8_t(i * 7 + 3);
  for (uint16_t off = 0; off < big; off += uint16_t(profile::kMaxNvBuffer)) {
    const size_t n = std::min<size_t>(profile::kMaxNvBuffer, big - off);
    ASSERT_EQ(write(TPM_RH_OWNER, kIdx + 2, Bytes(all.begin() + off, all.begin() + off + long(n)), off), 0u);
  }
  Bytes back;
  for (uint16_t off = 0; off < big; off += uint16_t(profile::kMaxNvBuffer)) {
    const uint16_t n = uint16_t(std::min<size_t>(profile::kMaxNvBuffer, big - off));
    back = cat(back, read_ok(TPM_RH_OWNER, kIdx + 2, n, off));
  }
  EXPECT_EQ(back, all);
}

TEST_F(Nv, CounterBitsExtendRules) {
  ASSERT_EQ(define({.attrs = kOwnerRW | nt(TPM_NT_COUNTER), .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | nt(TPM_NT_BITS), .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 2, .attrs = kOwnerRW | nt(TPM_NT_EXTEND), .size = 32}), 0u);
  ASSERT_EQ(define({.index = kIdx + 3}), 0u);
  // Only the type's own command changes it.
  for (TPM_HANDLE h : {kIdx, kIdx + 1, kIdx + 2}) EXPECT_EQ(write(TPM_RH_OWNER, h, Bytes(8)), TPM_RC_ATTRIBUTES);
  EXPECT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, kIdx + 3), rc_handle(TPM_RC_ATTRIBUTES, 2));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_SetBits).u32(TPM_RH_OWNER).u32(kIdx).pw_session().u64(1).bytes()).rc,
            rc_handle(TPM_RC_ATTRIBUTES, 2));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Extend).u32(TPM_RH_OWNER).u32(kIdx + 1).pw_session().tpm2b(Bytes(3)).bytes()).rc,
            rc_handle(TPM_RC_ATTRIBUTES, 2));

  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 8).rc, TPM_RC_NV_UNINITIALIZED);
  EXPECT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, kIdx), 0u);
  EXPECT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, kIdx), 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 8), (Bytes{0, 0, 0, 0, 0, 0, 0, 2}));

  for (uint64_t b : {uint64_t{0x5}, uint64_t{0x8000000000000010}})
    EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_SetBits).u32(TPM_RH_OWNER).u32(kIdx + 1).pw_session().u64(b).bytes()).rc, 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 1, 8), (Bytes{0x80, 0, 0, 0, 0, 0, 0, 0x15}));

  Bytes d1 = {'o', 'n', 'e'}, d2(900, 'x');
  for (const Bytes& d : {d1, d2})
    EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Extend).u32(TPM_RH_OWNER).u32(kIdx + 2).pw_session().tpm2b(d).bytes()).rc, 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 2, 32), sha256(cat(sha256(cat(Bytes(32, 0), d1)), d2)));
}

TEST_F(Nv, CountersNeverGoBackAcrossUndefine) {
  ASSERT_EQ(define({.attrs = kOwnerRW | nt(TPM_NT_COUNTER), .size = 8}), 0u);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, kIdx), 0u);
  ASSERT_EQ(undefine(kIdx), 0u);
  ASSERT_EQ(define({.index = kIdx + 9, .attrs = kOwnerRW | nt(TPM_NT_COUNTER), .size = 8}), 0u);
  ASSERT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, kIdx + 9), 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 9, 8), (Bytes{0, 0, 0, 0, 0, 0, 0, 6})) << "starts above every earlier value";
  // ... even after a power cycle.
  tpm.reset();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  ASSERT_EQ(undefine(kIdx + 9), 0u);
  ASSERT_EQ(define({.attrs = kOwnerRW | nt(TPM_NT_COUNTER), .size = 8}), 0u);
  ASSERT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, kIdx), 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 8), (Bytes{0, 0, 0, 0, 0, 0, 0, 7}));
}

TEST_F(Nv, AuthorizationChoices) {
  const Bytes pw = {'p', 'w'};
  // Owner may read, only the index's authValue may write.
  ASSERT_EQ(define({.attrs = A::OWNERREAD | A::AUTHWRITE, .size = 8, .auth = pw}), 0u);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 1)), TPM_RC_NV_AUTHORIZATION);
  EXPECT_EQ(write(TPM_RH_PLATFORM, kIdx, Bytes(8, 1)), TPM_RC_NV_AUTHORIZATION);
  EXPECT_EQ(write(kIdx, kIdx, Bytes(8, 1), 0, {'n', 'o'}), rc_session(TPM_RC_AUTH_FAIL, 1)) << "DA protected";
  EXPECT_EQ(write(kIdx, kIdx, Bytes(8, 1), 0, pw), 0u);
  EXPECT_EQ(read(kIdx, kIdx, 8, 0, pw).rc, TPM_RC_AUTH_UNAVAILABLE) << "AUTHREAD is CLEAR";
  EXPECT_EQ(read(TPM_RH_PLATFORM, kIdx, 8).rc, TPM_RC_NV_AUTHORIZATION) << "PPREAD is CLEAR";
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 8), Bytes(8, 1));
  // Another index's authorization is not this index's.
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kAuthRW | A::NO_DA, .size = 8}), 0u);
  EXPECT_EQ(write(kIdx + 1, kIdx, Bytes(8, 2)), TPM_RC_NV_AUTHORIZATION);
  EXPECT_EQ(write(kIdx + 1, kIdx + 1, Bytes(8, 3), 0, {'x'}), rc_session(TPM_RC_BAD_AUTH, 1)) << "NO_DA";
  // Trailing zeros of an authValue do not count (Part 1 §19.6.5).
  EXPECT_EQ(write(kIdx + 1, kIdx + 1, Bytes(8, 3), 0, {0, 0}), 0u);
  // Undefined indices and wrong handle types.
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx + 7, 1).rc, rc_handle(TPM_RC_HANDLE, 2));
  EXPECT_EQ(read(TPM_RH_ENDORSEMENT, kIdx, 1).rc, rc_handle(TPM_RC_VALUE, 1));
  EXPECT_EQ(read(TPM_RH_OWNER, 0x81000000, 1).rc, rc_handle(TPM_RC_VALUE, 2));
  // NV_ChangeAuth (ADMIN) needs a policy session: a password is not enough.
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_ChangeAuth).u32(kIdx).pw_session(pw).tpm2b(Bytes{'n'}).bytes()).rc,
            TPM_RC_AUTH_TYPE);
}

TEST_F(Nv, PinPassAndPinFail) {
  const Bytes pin = {'1', '2', '3', '4'};
  // PIN pass, pinLimit 2: two good uses, then the authValue is unavailable.
  ASSERT_EQ(define({.attrs = kOwnerRW | nt(TPM_NT_PIN_PASS), .size = 8, .auth = pin}), 0u);
  EXPECT_EQ(read(kIdx, kIdx, 8, 0, pin).rc, TPM_RC_AUTH_UNAVAILABLE) << "not written yet";
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, {0, 0, 0, 0, 0, 0, 0, 2}), 0u);
  EXPECT_EQ(read_ok(kIdx, kIdx, 8, 0, pin), (Bytes{0, 0, 0, 1, 0, 0, 0, 2}));
  EXPECT_EQ(read_ok(kIdx, kIdx, 8, 0, pin), (Bytes{0, 0, 0, 2, 0, 0, 0, 2}));
  EXPECT_EQ(read(kIdx, kIdx, 8, 0, pin).rc, TPM_RC_AUTH_UNAVAILABLE);
  // PIN fail, pinLimit 2: failures count (not the DA counter), then even the right PIN fails.
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | A::NO_DA | nt(TPM_NT_PIN_FAIL), .size = 8, .auth = pin}), 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx + 1, {0, 0, 0, 0, 0, 0, 0, 2}), 0u);
  EXPECT_EQ(read_ok(kIdx + 1, kIdx + 1, 8, 0, pin), (Bytes{0, 0, 0, 0, 0, 0, 0, 2})) << "success does not count";
  EXPECT_EQ(read(kIdx + 1, kIdx + 1, 8, 0, {'x'}).rc, rc_session(TPM_RC_BAD_AUTH, 1));
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 1, 8), (Bytes{0, 0, 0, 1, 0, 0, 0, 2}));
  EXPECT_EQ(read_ok(kIdx + 1, kIdx + 1, 8, 0, pin), (Bytes{0, 0, 0, 0, 0, 0, 0, 2})) << "a success resets the count";
  for (int i = 0; i < 2; ++i) EXPECT_EQ(read(kIdx + 1, kIdx + 1, 8, 0, {'x'}).rc, rc_session(TPM_RC_BAD_AUTH, 1));
  EXPECT_EQ(read(kIdx + 1, kIdx + 1, 8, 0, pin).rc, TPM_RC_AUTH_UNAVAILABLE);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 1, 8), (Bytes{0, 0, 0, 2, 0, 0, 0, 2}));
  EXPECT_EQ(property(PT_VAR + 14), 0u) << "DA failedTries untouched";
}

TEST_F(Nv, WriteLocksAcrossStartups) {
  ASSERT_EQ(define({.attrs = kOwnerRW | A::WRITE_STCLEAR, .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | A::WRITEDEFINE, .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 2, .attrs = kOwnerRW | A::WRITEDEFINE, .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 3, .size = 8}), 0u);
  EXPECT_EQ(simple(TPM_CC_NV_WriteLock, TPM_RH_OWNER, kIdx + 3), rc_handle(TPM_RC_ATTRIBUTES, 2));
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 1)), 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 1)), 0u);
  for (TPM_HANDLE h : {kIdx, kIdx + 1, kIdx + 2}) EXPECT_EQ(simple(TPM_CC_NV_WriteLock, TPM_RH_OWNER, h), 0u);
  EXPECT_EQ(simple(TPM_CC_NV_WriteLock, TPM_RH_OWNER, kIdx), 0u) << "locking again is no error";
  for (TPM_HANDLE h : {kIdx, kIdx + 1, kIdx + 2}) {
    EXPECT_EQ(write(TPM_RH_OWNER, h, Bytes(8, 2)), TPM_RC_NV_LOCKED);
    EXPECT_TRUE(read_public(h).first & A::WRITELOCKED);
  }
  // Resume keeps every lock.
  restart(TPM_SU_STATE, TPM_SU_STATE);
  for (TPM_HANDLE h : {kIdx, kIdx + 1, kIdx + 2}) EXPECT_EQ(write(TPM_RH_OWNER, h, Bytes(8, 2)), TPM_RC_NV_LOCKED);
  // Restart ends the WRITE_STCLEAR lock and the lock of the unwritten WRITEDEFINE index; the
  // written WRITEDEFINE index stays locked for good.
  restart(TPM_SU_STATE, TPM_SU_CLEAR);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 2)), 0u);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 2)), TPM_RC_NV_LOCKED);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 2, Bytes(8, 2)), 0u);
  EXPECT_FALSE(read_public(kIdx).first & A::WRITELOCKED);
  // A TPM Reset (no orderly shutdown) as well.
  tpm.reset();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 2)), TPM_RC_NV_LOCKED);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 1, 8), Bytes(8, 1));
}

TEST_F(Nv, ReadLockAndClearStClear) {
  ASSERT_EQ(define({.attrs = kOwnerRW | A::READ_STCLEAR, .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | A::CLEAR_STCLEAR, .size = 8}), 0u);
  EXPECT_EQ(simple(TPM_CC_NV_ReadLock, TPM_RH_OWNER, kIdx + 1), rc_handle(TPM_RC_ATTRIBUTES, 2));
  EXPECT_EQ(simple(TPM_CC_NV_ReadLock, TPM_RH_PLATFORM, kIdx), TPM_RC_NV_AUTHORIZATION);
  EXPECT_EQ(simple(TPM_CC_NV_ReadLock, TPM_RH_OWNER, kIdx), 0u) << "an unwritten index may be read locked";
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 1)), 0u) << "a read lock does not stop writes";
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 8).rc, TPM_RC_NV_LOCKED);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 1)), 0u);
  restart(TPM_SU_STATE, TPM_SU_STATE);
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 8).rc, TPM_RC_NV_LOCKED);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 1, 8), Bytes(8, 1)) << "Resume keeps WRITTEN";
  restart(TPM_SU_CLEAR, TPM_SU_CLEAR);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 8), Bytes(8, 1));
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx + 1, 8).rc, TPM_RC_NV_UNINITIALIZED) << "CLEAR_STCLEAR: WRITTEN is gone";
}

TEST_F(Nv, GlobalWriteLock) {
  ASSERT_EQ(define({.attrs = kOwnerRW | A::GLOBALLOCK, .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | A::GLOBALLOCK | A::WRITEDEFINE, .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 2, .size = 8}), 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 1)), 0u);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_GlobalWriteLock).u32(TPM_RH_OWNER).pw_session().bytes()).rc, 0u);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 2)), TPM_RC_NV_LOCKED);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 2)), TPM_RC_NV_LOCKED);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 2, Bytes(8, 2)), 0u);
  EXPECT_TRUE(read_public(kIdx).first & A::WRITELOCKED);
  restart(TPM_SU_CLEAR, TPM_SU_CLEAR);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 2)), 0u);
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 2)), TPM_RC_NV_LOCKED) << "GLOBALLOCK + WRITEDEFINE + written: for good";
}

TEST_F(Nv, UndefineRulesAndClear) {
  ASSERT_EQ(define({}), 0u);
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | A::PLATFORMCREATE, .creator = TPM_RH_PLATFORM}), 0u);
  ASSERT_EQ(define({.index = kIdx + 2, .attrs = kOwnerRW | A::PLATFORMCREATE | A::POLICY_DELETE, .creator = TPM_RH_PLATFORM}), 0u);
  ASSERT_EQ(define({.index = kIdx + 3, .attrs = kOwnerRW | nt(TPM_NT_COUNTER), .size = 8}), 0u);
  ASSERT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, kIdx + 3), 0u);
  EXPECT_EQ(undefine(kIdx + 1), TPM_RC_NV_AUTHORIZATION) << "the owner cannot delete a platform index";
  EXPECT_EQ(undefine(kIdx + 2, TPM_RH_PLATFORM), rc_handle(TPM_RC_ATTRIBUTES, 2)) << "POLICY_DELETE";
  // UndefineSpaceSpecial: ADMIN role (policy only), then platform.
  auto special = [&](TPM_HANDLE h) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_NV_UndefineSpaceSpecial).u32(h).u32(TPM_RH_PLATFORM)
                        .u32(18).u32(TPM_RS_PW).u16(0).u8(0).u16(0).u32(TPM_RS_PW).u16(0).u8(0).u16(0).bytes()).rc;
  };
  EXPECT_EQ(special(kIdx + 2), TPM_RC_AUTH_TYPE);
  EXPECT_EQ(property(PT_VAR + 2), 4u);   // HR_NV_INDEX
  EXPECT_EQ(property(PT_VAR + 10), 1u);  // NV_COUNTERS
  // Clear: owner indices go, platform indices stay.
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_Clear).u32(TPM_RH_PLATFORM).pw_session().bytes()).rc, 0u);
  EXPECT_EQ(nv_handles(), (std::vector<uint32_t>{kIdx + 1, kIdx + 2}));
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 1).rc, rc_handle(TPM_RC_HANDLE, 2));
  EXPECT_EQ(undefine(kIdx + 1, TPM_RH_PLATFORM), 0u);
  EXPECT_EQ(nv_handles(), (std::vector<uint32_t>{kIdx + 2}));
  EXPECT_EQ(property(PT_VAR + 10), 0u);
  // The list and the records survive a power cycle.
  tpm.reset();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  EXPECT_EQ(nv_handles(), (std::vector<uint32_t>{kIdx + 2}));
  EXPECT_FALSE(platform.store.committed.count(kIdx)) << "the record is gone from the store";
}

TEST_F(Nv, DisabledHierarchyHidesItsIndices) {
  ASSERT_EQ(define({.size = 8}), 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8)), 0u);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_HierarchyControl).u32(TPM_RH_PLATFORM).pw_session().u32(TPM_RH_OWNER).u8(0).bytes()).rc, 0u);
  EXPECT_EQ(read(TPM_RH_PLATFORM, kIdx, 8).rc, rc_handle(TPM_RC_HANDLE, 2));
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 8).rc, rc_handle(TPM_RC_HIERARCHY, 1));
}

TEST_F(Nv, FullListIsNvSpaceAndLosesNothing) {
  for (uint32_t i = 0; i < profile::kMaxNvIndices; ++i) ASSERT_EQ(define({.index = kIdx + i, .size = 1}), 0u) << i;
  EXPECT_EQ(define({.index = kIdx + 0x10000, .size = 1}), TPM_RC_NV_SPACE);
  EXPECT_EQ(nv_handles().size(), std::min<size_t>(profile::kMaxNvIndices, 254));  // one page of handles
  EXPECT_EQ(property(PT_VAR + 2), profile::kMaxNvIndices);
  // A full store: TPM_RC_NV_SPACE, and the list is what the store holds.
  ASSERT_EQ(undefine(kIdx), 0u);
  platform.store.commit_no_space = true;
  EXPECT_EQ(define({.index = kIdx, .size = 1}), TPM_RC_NV_SPACE);
  platform.store.commit_no_space = false;
  EXPECT_EQ(property(PT_VAR + 2), profile::kMaxNvIndices - 1);
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 1).rc, rc_handle(TPM_RC_HANDLE, 2));
  EXPECT_EQ(define({.index = kIdx, .size = 1}), 0u);
}

TEST_F(Nv, CapabilityHandlesPageWithMoreData) {
  for (uint32_t i = 0; i < 5; ++i) ASSERT_EQ(define({.index = kIdx + 10 * i, .size = 1}), 0u);
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_HANDLES).u32(kIdx + 15).u32(2).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.u8(), 1u) << "moreData";
  EXPECT_EQ(r.u32(), TPM_CAP_HANDLES);
  ASSERT_EQ(r.u32(), 2u);
  EXPECT_EQ(r.u32(), kIdx + 20);
  EXPECT_EQ(r.u32(), kIdx + 30);
}

// ---- orderly indices (docs/engine.md "Orderly indices") ----

uint64_t be64(const Bytes& b) {
  uint64_t v = 0;
  for (uint8_t x : b) v = v << 8 | x;
  return v;
}

class NvOrderly : public Nv {
 protected:
  static constexpr uint32_t kOrderly = kOwnerRW | A::ORDERLY;
  // Power lost without Shutdown, then Startup(CLEAR): a TPM Reset after a non-orderly shutdown.
  void power_cut() {
    tpm.reset();
    ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  }
  uint64_t counter(TPM_HANDLE h) { return be64(read_ok(TPM_RH_OWNER, h, 8)); }
  void increment(TPM_HANDLE h) { ASSERT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, h), 0u); }
};

TEST_F(NvOrderly, DataReachesTheStoreOnlyAtAnOrderlyShutdown) {
  ASSERT_EQ(define({.attrs = kOrderly, .size = 16}), 0u);
  const Bytes a(16, 'a'), b(16, 'b');
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, a), 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 16), a);
  // Lost with the power: the index is as stored at NV_DefineSpace, TPMA_NV_WRITTEN included.
  power_cut();
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx, 16).rc, TPM_RC_NV_UNINITIALIZED);
  EXPECT_FALSE(read_public(kIdx).first & A::WRITTEN);
  // Shutdown(CLEAR) and Shutdown(STATE) store it.
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, a), 0u);
  restart(TPM_SU_CLEAR, TPM_SU_CLEAR);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 16), a);
  EXPECT_TRUE(read_public(kIdx).first & A::WRITTEN);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, b, 0), 0u);
  restart(TPM_SU_STATE, TPM_SU_STATE);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 16), b);
  // A later write without Shutdown reverts to the last stored copy.
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, a, 0), 0u);
  power_cut();
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 16), b);
  // A write after Shutdown makes that shutdown non-orderly (RAM alone holds it).
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, a, 0), 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 16), b);
  EXPECT_EQ(property(PT_VAR + 1) >> 31, 0u) << "TPMA_STARTUP_CLEAR.orderly";
}

TEST_F(NvOrderly, CounterNeverRepeatsAValueAfterANonOrderlyShutdown) {
  EXPECT_EQ(property(PT_FIXED + 29), profile::kMaxOrderlyCount) << "TPM_PT_ORDERLY_COUNT";
  ASSERT_EQ(define({.attrs = kOrderly | nt(TPM_NT_COUNTER), .size = 8}), 0u);
  const uint64_t m = profile::kMaxOrderlyCount;
  // The first increment is stored (1); then every increment whose low bits become 0.
  uint64_t stored = 0, seen = 0;
  for (int round = 0; round < 3; ++round) {
    const int n = round == 0 ? 300 : round == 1 ? 1 : 17;
    for (int i = 0; i < n; ++i) {
      increment(kIdx);
      const uint64_t v = counter(kIdx);
      EXPECT_GT(v, seen);
      seen = v;
      if (stored == 0 || (v & m) == 0) stored = v;
    }
    power_cut();
    const uint64_t after = counter(kIdx);
    EXPECT_EQ(after, stored + m + 1) << "stored value + MAX_ORDERLY_COUNT + 1";
    EXPECT_GT(after, seen) << "never a value already returned";
    seen = stored = after;
    // The jump is stored at once: a second cut does not repeat it.
    power_cut();
    EXPECT_EQ(counter(kIdx), after + m + 1);
    seen = stored = after + m + 1;
  }
  // An orderly shutdown keeps the exact value (CLEAR and STATE).
  increment(kIdx);
  increment(kIdx);
  const uint64_t v = counter(kIdx);
  restart(TPM_SU_CLEAR, TPM_SU_CLEAR);
  EXPECT_EQ(counter(kIdx), v);
  increment(kIdx);
  restart(TPM_SU_STATE, TPM_SU_CLEAR);
  EXPECT_EQ(counter(kIdx), v + 1);
  // An increment after Shutdown, then a cut: not orderly, the counter jumps.
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  increment(kIdx);
  power_cut();
  EXPECT_EQ(counter(kIdx), v + 1 + m + 1);
  // Undefined, it leaves its RAM value as the floor of new counters.
  increment(kIdx);
  const uint64_t last = counter(kIdx);
  ASSERT_EQ(undefine(kIdx), 0u);
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kOwnerRW | nt(TPM_NT_COUNTER), .size = 8}), 0u);
  increment(kIdx + 1);
  EXPECT_EQ(counter(kIdx + 1), last + 1);
}

TEST_F(NvOrderly, LocksAndAuthChangesAreWrittenThrough) {
  ASSERT_EQ(define({.attrs = kOrderly | A::WRITEDEFINE | A::AUTHREAD, .size = 8, .auth = {'p'}}), 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 7)), 0u);
  ASSERT_EQ(simple(TPM_CC_NV_WriteLock, TPM_RH_OWNER, kIdx), 0u);
  power_cut();
  // The lock went to the store with the data RAM held then; WRITEDEFINE keeps it locked.
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 8), Bytes(8, 7));
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 1)), TPM_RC_NV_LOCKED);
  EXPECT_EQ(read_ok(kIdx, kIdx, 8, 0, {'p'}), Bytes(8, 7));
}

TEST_F(NvOrderly, RamFullIsNvSpace) {
  const uint16_t size = 500;
  const size_t fit = profile::kNvOrderlyRam / (16 + size);  // 16 octets of header an index
  for (uint32_t i = 0; i < fit; ++i) ASSERT_EQ(define({.index = kIdx + i, .attrs = kOrderly, .size = size}), 0u) << i;
  EXPECT_EQ(define({.index = kIdx + 100, .attrs = kOrderly, .size = size}), TPM_RC_NV_SPACE);
  // Other indices do not use that RAM; PIN indices are never kept in RAM.
  EXPECT_EQ(define({.index = kIdx + 101, .size = size}), 0u);
  EXPECT_EQ(define({.index = kIdx + 102, .attrs = kOrderly | nt(TPM_NT_PIN_PASS), .size = 8}), 0u);
  // Undefining one makes room; so does a power cycle not (RAM is rebuilt from the list).
  ASSERT_EQ(undefine(kIdx), 0u);
  power_cut();
  EXPECT_EQ(define({.index = kIdx + 100, .attrs = kOrderly, .size = size}), 0u);
  EXPECT_EQ(define({.index = kIdx + 103, .attrs = kOrderly, .size = size}), TPM_RC_NV_SPACE);
}

TEST_F(NvOrderly, FailedShutdownCommitKeepsTheDataForTheNextShutdown) {
  ASSERT_EQ(define({.attrs = kOrderly, .size = 4}), 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, {1, 2, 3, 4}), 0u);
  platform.store.commit_no_space = true;
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_CLEAR).bytes()).rc, TPM_RC_NV_SPACE);
  platform.store.commit_no_space = false;
  restart(TPM_SU_CLEAR, TPM_SU_CLEAR);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 4), (Bytes{1, 2, 3, 4}));
}

// ---- Read-Only mode (ReadOnlyControl, 1.84): docs/engine.md "Read-Only mode" ----

// The commands refused as a whole, as the TCG reference TPM marks them (RO_DISALLOW in its
// command attribute table), typed here from that list by code.
const std::set<TPM_CC> kReadOnlyRefused = {
    0x11F /*NV_UndefineSpaceSpecial*/, 0x120 /*EvictControl*/, 0x121 /*HierarchyControl*/,
    0x122 /*NV_UndefineSpace*/, 0x124 /*ChangeEPS*/, 0x125 /*ChangePPS*/, 0x126 /*Clear*/,
    0x127 /*ClearControl*/, 0x128 /*ClockSet*/, 0x129 /*HierarchyChangeAuth*/, 0x12A /*NV_DefineSpace*/,
    0x12B /*PCR_Allocate*/, 0x12C /*PCR_SetAuthPolicy*/, 0x12D /*PP_Commands*/, 0x12E /*SetPrimaryPolicy*/,
    0x12F /*FieldUpgradeStart*/, 0x130 /*ClockRateAdjust*/, 0x131 /*CreatePrimary*/,
    0x132 /*NV_GlobalWriteLock*/, 0x134 /*NV_Increment*/, 0x13A /*DictionaryAttackParameters*/,
    0x13B /*NV_ChangeAuth*/, 0x13F /*SetAlgorithmSet*/, 0x140 /*SetCommandCodeAuditStatus*/,
    0x141 /*FieldUpgradeData*/, 0x150 /*ObjectChangeAuth*/, 0x153 /*Create*/, 0x183 /*PCR_SetAuthValue*/,
    0x191 /*CreateLoaded*/, 0x19D /*NV_DefineSpace2*/, 0x19F /*SetCapability*/};

class ReadOnly : public Nv {
 protected:
  uint32_t read_only(bool on, const Bytes& pw = {}) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_ReadOnlyControl).u32(TPM_RH_PLATFORM).pw_session(pw).u8(on ? 1 : 0).bytes()).rc;
  }
  bool mode() { return (property(TPM_PT_STARTUP_CLEAR) & (1u << 4)) != 0; }  // TPMA_STARTUP_CLEAR.readOnly
  uint32_t create_primary(const Bytes& pw = {}) {
    // A keyed-hash (HMAC-SHA256) primary under the null hierarchy: cheap to derive.
    const Bytes tmpl = {0x00, 0x08, 0x00, 0x0B, 0x00, 0x04, 0x00, 0x60, 0x00, 0x00,
                        0x00, 0x05, 0x00, 0x0B, 0x00, 0x00};
    Response r = run(tpm, CommandBuilder(0x8002, TPM_CC_CreatePrimary).u32(TPM_RH_NULL).pw_session(pw)
                              .tpm2b(Bytes{0, 0, 0, 0}).tpm2b(tmpl).tpm2b(Bytes{}).u32(0).bytes());
    if (r.rc == 0) flush(r.u32());
    return r.rc;
  }
  void flush(uint32_t h) { ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(h).bytes()).rc, 0u); }
  uint32_t policy_session() {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_StartAuthSession).u32(TPM_RH_NULL).u32(TPM_RH_NULL)
                              .tpm2b(Bytes(16, 1)).tpm2b(Bytes{}).u8(1).u16(TPM_ALG_NULL).u16(TPM_ALG_SHA256).bytes());
    EXPECT_EQ(r.rc, 0u);
    return r.rc ? 0 : r.u32();
  }
  uint32_t policy_secret(TPM_HANDLE auth, uint32_t session, const Bytes& pw) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_PolicySecret).u32(auth).u32(session).pw_session(pw)
                        .tpm2b(Bytes{}).tpm2b(Bytes{}).tpm2b(Bytes{}).u32(0).bytes()).rc;
  }
};

TEST_F(ReadOnly, RefusedCommandsAreTheReferenceList) {
  std::set<TPM_CC> flagged;
  for (const CommandInfo* c = command_table().begin; c != command_table().end; ++c)
    if (c->flags & kCmdReadOnlyRefused) flagged.insert(c->code);
  EXPECT_EQ(flagged, kReadOnlyRefused);
  // Every one of them answers TPM_RC_READ_ONLY before its handles or sessions are looked at: a
  // header alone (no handles, no parameters) is enough.
  ASSERT_EQ(read_only(true), 0u);
  for (TPM_CC cc : kReadOnlyRefused)
    EXPECT_EQ(run(tpm, CommandBuilder(0x8001, cc).bytes()).rc, TPM_RC_READ_ONLY) << std::hex << cc;
  ASSERT_EQ(read_only(false), 0u);
  for (TPM_CC cc : kReadOnlyRefused)
    EXPECT_NE(run(tpm, CommandBuilder(0x8001, cc).bytes()).rc, TPM_RC_READ_ONLY) << std::hex << cc;
}

TEST_F(ReadOnly, WritesRefusedReadsAndOrderlyClearStClearIndicesServed) {
  const uint32_t kVolatile = kOwnerRW | A::ORDERLY | A::CLEAR_STCLEAR;
  ASSERT_EQ(define({.attrs = kOwnerRW | A::WRITE_STCLEAR | A::READ_STCLEAR, .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 1, .attrs = kVolatile | A::WRITE_STCLEAR | A::READ_STCLEAR, .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 2, .attrs = kOwnerRW | nt(TPM_NT_EXTEND), .size = 32}), 0u);
  ASSERT_EQ(define({.index = kIdx + 3, .attrs = kOwnerRW | nt(TPM_NT_BITS), .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 4, .attrs = kOwnerRW | nt(TPM_NT_COUNTER), .size = 8}), 0u);
  ASSERT_EQ(define({.index = kIdx + 5, .attrs = kVolatile | nt(TPM_NT_BITS), .size = 8}), 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 1)), 0u);
  EXPECT_FALSE(mode());

  ASSERT_EQ(read_only(true), 0u);
  EXPECT_TRUE(mode());
  EXPECT_EQ(read_only(true), 0u) << "entering twice is no error";
  // Refused as a whole: whatever the authorization (a wrong password is not even looked at).
  EXPECT_EQ(define({.index = kIdx + 9}), TPM_RC_READ_ONLY);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_DefineSpace).u32(TPM_RH_OWNER).pw_session(Bytes{'x'})
                         .tpm2b(Bytes{}).tpm2b(nv_public({.index = kIdx + 9})).bytes()).rc, TPM_RC_READ_ONLY);
  EXPECT_EQ(create_primary(), TPM_RC_READ_ONLY);
  EXPECT_EQ(undefine(kIdx), TPM_RC_READ_ONLY);
  EXPECT_EQ(simple(TPM_CC_NV_Increment, TPM_RH_OWNER, kIdx + 4), TPM_RC_READ_ONLY);
  EXPECT_EQ(property(PT_VAR + 14), 0u) << "the wrong password counted nothing";
  // By the index's attributes: refused on a stored index, served on an ORDERLY+CLEAR_STCLEAR one.
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 2)), TPM_RC_READ_ONLY);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_Extend).u32(TPM_RH_OWNER).u32(kIdx + 2).pw_session().tpm2b(Bytes{1}).bytes()).rc,
            TPM_RC_READ_ONLY);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_SetBits).u32(TPM_RH_OWNER).u32(kIdx + 3).pw_session().u64(1).bytes()).rc,
            TPM_RC_READ_ONLY);
  EXPECT_EQ(simple(TPM_CC_NV_WriteLock, TPM_RH_OWNER, kIdx), TPM_RC_READ_ONLY);
  EXPECT_EQ(simple(TPM_CC_NV_ReadLock, TPM_RH_OWNER, kIdx), TPM_RC_READ_ONLY);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 8), Bytes(8, 1)) << "reads are served, the data unchanged";
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx + 1, Bytes(8, 3)), 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx + 1, 8), Bytes(8, 3));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_NV_SetBits).u32(TPM_RH_OWNER).u32(kIdx + 5).pw_session().u64(6).bytes()).rc, 0u);
  EXPECT_EQ(simple(TPM_CC_NV_WriteLock, TPM_RH_OWNER, kIdx + 1), 0u);
  EXPECT_EQ(simple(TPM_CC_NV_ReadLock, TPM_RH_OWNER, kIdx + 1), 0u);
  EXPECT_EQ(read(TPM_RH_OWNER, kIdx + 1, 8).rc, TPM_RC_NV_LOCKED);
  // The index attribute check comes after the authorization (the reference TPM's order).
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 2), 0, {'x'}), rc_session(TPM_RC_BAD_AUTH, 1));

  // ReadOnlyControl itself is authorized as usual: platformAuth.
  EXPECT_EQ(read_only(false, {'x'}), rc_session(TPM_RC_BAD_AUTH, 1));
  EXPECT_TRUE(mode());
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_ReadOnlyControl).u32(TPM_RH_PLATFORM).pw_session().u8(2).bytes()).rc,
            rc_param(TPM_RC_VALUE, 1));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_ReadOnlyControl).u32(TPM_RH_OWNER).pw_session().u8(0).bytes()).rc,
            rc_handle(TPM_RC_VALUE, 1));
  ASSERT_EQ(read_only(false), 0u);
  EXPECT_FALSE(mode());
  EXPECT_EQ(write(TPM_RH_OWNER, kIdx, Bytes(8, 2)), 0u);
  EXPECT_EQ(create_primary(), 0u);
  EXPECT_EQ(define({.index = kIdx + 9}), 0u);
}

TEST_F(ReadOnly, PolicySecretRefusesPinIndicesBeforeCountingThem) {
  const Bytes pin = {'1', '2'};
  ASSERT_EQ(define({.attrs = kOwnerRW | nt(TPM_NT_PIN_PASS), .size = 8, .auth = pin}), 0u);
  ASSERT_EQ(write(TPM_RH_OWNER, kIdx, {0, 0, 0, 0, 0, 0, 0, 5}), 0u);
  uint32_t ps = policy_session();
  ASSERT_EQ(read_only(true), 0u);
  EXPECT_EQ(policy_secret(kIdx, ps, pin), TPM_RC_READ_ONLY);
  EXPECT_EQ(policy_secret(kIdx, ps, {'x'}), TPM_RC_READ_ONLY) << "before the authValue is checked";
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 8), (Bytes{0, 0, 0, 0, 0, 0, 0, 5})) << "pinCount not counted";
  EXPECT_EQ(policy_secret(TPM_RH_OWNER, ps, {}), 0u) << "other entities still authorize PolicySecret";
  ASSERT_EQ(read_only(false), 0u);
  EXPECT_EQ(policy_secret(kIdx, ps, pin), 0u);
  EXPECT_EQ(read_ok(TPM_RH_OWNER, kIdx, 8), (Bytes{0, 0, 0, 1, 0, 0, 0, 5})) << "outside Read-Only mode it counts";
}

TEST_F(ReadOnly, StateClearResumeKeepsRestartAndResetEnd) {
  ASSERT_EQ(read_only(true), 0u);
  restart(TPM_SU_STATE, TPM_SU_STATE);  // TPM Resume
  EXPECT_TRUE(mode());
  EXPECT_EQ(create_primary(), TPM_RC_READ_ONLY);
  restart(TPM_SU_STATE, TPM_SU_CLEAR);  // TPM Restart
  EXPECT_FALSE(mode());
  EXPECT_EQ(create_primary(), 0u);
  ASSERT_EQ(read_only(true), 0u);
  tpm.reset();  // power lost: TPM Reset
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  EXPECT_FALSE(mode());
  // ReadOnlyControl after a Shutdown(STATE) changes state-clear data: that saved state is void.
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_STATE).bytes()).rc, 0u);
  ASSERT_EQ(read_only(true), 0u);
  tpm.reset();
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_STATE).bytes()).rc, rc_param(TPM_RC_VALUE, 1));
}

}  // namespace
}  // namespace utpm::tpm
