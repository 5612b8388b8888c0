// Command behaviour, with expected values computed independently (OpenSSL directly).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <set>

#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::Response;
using testing::run;
using Bytes = std::vector<uint8_t>;

Bytes digest(const EVP_MD* md, const Bytes& in) {
  Bytes out(EVP_MD_get_size(md));
  unsigned n = 0;
  EVP_Digest(in.data(), in.size(), out.data(), &n, md, nullptr);
  return out;
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class Commands : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }
  Bytes read_pcr(uint32_t pcr, uint16_t alg = TPM_ALG_SHA256) {
    uint8_t sel[3] = {0, 0, 0};
    sel[pcr / 8] = uint8_t(1 << (pcr % 8));
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_PCR_Read).u32(1).u16(alg).u8(3).raw(sel).bytes());
    EXPECT_EQ(r.rc, 0u);
    r.u32();
    r.u32();
    r.take(6);
    EXPECT_EQ(r.u32(), 1u);
    return r.tpm2b();
  }
  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(Commands, GetRandomCapsAtLargestDigestAndVaries) {
  std::set<Bytes> seen;
  for (uint16_t n : {uint16_t{0}, uint16_t{1}, uint16_t{16}, uint16_t{48}, uint16_t{49}, uint16_t{64}, uint16_t{65}, uint16_t{1000}}) {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetRandom).u16(n).bytes());
    ASSERT_EQ(r.rc, 0u);
    Bytes b = r.tpm2b();
    EXPECT_EQ(b.size(), std::min<size_t>(n, profile::kSha512 ? 64 : 48)) << "largest digest of the profile";
    if (b.size() >= 16) {
      EXPECT_TRUE(seen.insert(b).second) << "random output repeated";
    }
  }
}

TEST_F(Commands, StirRandomAcceptsUpToItsLimit) {
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_StirRandom).tpm2b(Bytes(128, 7)).bytes()).rc, 0u);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_StirRandom).tpm2b(Bytes(129, 7)).bytes()).rc,
            rc_param(TPM_RC_SIZE, 1));
}

TEST_F(Commands, HashMatchesOpenSslAndTicketsVerify) {
  Bytes data = {'h', 'e', 'l', 'l', 'o'};
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_Hash).tpm2b(data).u16(TPM_ALG_SHA384).u32(TPM_RH_OWNER).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.tpm2b(), digest(EVP_sha384(), data));
  EXPECT_EQ(r.u16(), TPM_ST_HASHCHECK);
  EXPECT_EQ(r.u32(), TPM_RH_OWNER);
  EXPECT_EQ(r.tpm2b().size(), 48u) << "a real ticket for the owner hierarchy";
  // NULL hierarchy, and data that looks TPM-generated, both give the NULL ticket.
  for (auto [d, h] : {std::pair{data, TPM_RH_NULL}, std::pair{Bytes{0xff, 0x54, 0x43, 0x47, 1}, TPM_RH_OWNER}}) {
    r = run(tpm, CommandBuilder(0x8001, TPM_CC_Hash).tpm2b(d).u16(TPM_ALG_SHA256).u32(h).bytes());
    ASSERT_EQ(r.rc, 0u);
    r.tpm2b();
    EXPECT_EQ(r.u16(), TPM_ST_HASHCHECK);
    EXPECT_EQ(r.u32(), TPM_RH_NULL);
    EXPECT_EQ(r.tpm2b().size(), 0u);
  }
}

TEST_F(Commands, HashSequenceMatchesOneShot) {
  Bytes auth = {'s', 'e', 'q'};
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_HashSequenceStart).tpm2b(auth).u16(TPM_ALG_SHA256).bytes());
  ASSERT_EQ(r.rc, 0u);
  uint32_t h = r.u32();
  EXPECT_EQ(h >> 24, 0x80u);
  Bytes part1(700, 'a'), part2(900, 'b'), part3 = {'c'};
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_SequenceUpdate).u32(h).pw_session(auth).tpm2b(part1).bytes()).rc, 0u);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_SequenceUpdate).u32(h).pw_session(Bytes{'x'}).tpm2b(part2).bytes()).rc,
            rc_session(TPM_RC_BAD_AUTH, 1));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_SequenceUpdate).u32(h).pw_session(auth).tpm2b(part2).bytes()).rc, 0u);
  r = run(tpm, CommandBuilder(0x8002, TPM_CC_SequenceComplete).u32(h).pw_session(auth).tpm2b(part3).u32(TPM_RH_NULL).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u32();  // parameterSize
  EXPECT_EQ(r.tpm2b(), digest(EVP_sha256(), cat(cat(part1, part2), part3)));
  // The sequence is gone.
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_SequenceUpdate).u32(h).pw_session(auth).tpm2b(part3).bytes()).rc,
            TPM_RC_REFERENCE_H0);
}

TEST_F(Commands, EventSequenceExtendsEveryBank) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_HashSequenceStart).u16(0).u16(TPM_ALG_NULL).bytes());
  ASSERT_EQ(r.rc, 0u);
  uint32_t h = r.u32();
  Bytes data = {'e', 'v', 'e', 'n', 't'};
  // SequenceComplete is for hash sequences only.
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_SequenceComplete).u32(h).pw_session().tpm2b(data).u32(TPM_RH_NULL).bytes()).rc,
            rc_handle(TPM_RC_MODE, 1));
  // Two sessions: one for the PCR, one for the sequence.
  auto cmd = CommandBuilder(0x8002, TPM_CC_EventSequenceComplete).u32(16).u32(h).u32(18)
                 .u32(TPM_RS_PW).u16(0).u8(0).u16(0).u32(TPM_RS_PW).u16(0).u8(0).u16(0).tpm2b(data).bytes();
  r = run(tpm, cmd);
  ASSERT_EQ(r.rc, 0u);
  r.u32();
  ASSERT_EQ(r.u32(), profile::kSha512 ? 4u : 3u) << "one digest per implemented hash";
  EXPECT_EQ(r.u16(), TPM_ALG_SHA1);
  EXPECT_EQ(r.take(20), digest(EVP_sha1(), data));
  EXPECT_EQ(r.u16(), TPM_ALG_SHA256);
  Bytes d256 = r.take(32);
  EXPECT_EQ(d256, digest(EVP_sha256(), data));
  EXPECT_EQ(read_pcr(16), digest(EVP_sha256(), cat(Bytes(32, 0), d256)));
}

TEST_F(Commands, PcrEventReturnsAllDigestsAndExtends) {
  Bytes data = {'x', 'y'};
  Response r = run(tpm, CommandBuilder(0x8002, TPM_CC_PCR_Event).u32(9).pw_session().tpm2b(data).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u32();
  ASSERT_EQ(r.u32(), profile::kSha512 ? 4u : 3u) << "one digest per implemented hash";
  r.u16();
  Bytes d1 = r.take(20);
  EXPECT_EQ(d1, digest(EVP_sha1(), data));
  EXPECT_EQ(read_pcr(9, TPM_ALG_SHA1), digest(EVP_sha1(), cat(Bytes(20, 0), d1)));
}

TEST_F(Commands, PcrResetFollowsLocalityRules) {
  auto reset = [&](uint32_t pcr, uint8_t loc) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_PCR_Reset).u32(pcr).pw_session().bytes(), loc).rc;
  };
  EXPECT_EQ(reset(0, 0), TPM_RC_LOCALITY) << "static PCRs never reset";
  EXPECT_EQ(reset(16, 0), 0u);
  EXPECT_EQ(reset(23, 3), 0u);
  EXPECT_EQ(reset(17, 0), TPM_RC_LOCALITY);
  EXPECT_EQ(reset(17, 4), 0u);
  EXPECT_EQ(read_pcr(17), Bytes(32, 0)) << "reset sets zero, not the all-ones start value";
  EXPECT_EQ(reset(21, 2), 0u);
  EXPECT_EQ(reset(21, 3), TPM_RC_LOCALITY);
}

TEST_F(Commands, PcrExtendChecksLocality) {
  Bytes d(32, 1);
  auto ext = [&](uint32_t pcr, uint8_t loc) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(pcr).pw_session().u32(1).u16(TPM_ALG_SHA256).raw(d).bytes(), loc).rc;
  };
  EXPECT_EQ(ext(17, 0), TPM_RC_LOCALITY);
  EXPECT_EQ(ext(17, 2), 0u);
  EXPECT_EQ(ext(5, 4), 0u);
  EXPECT_EQ(ext(21, 1), TPM_RC_LOCALITY);
  // an unallocated bank's digest is ignored; a NULL handle is a no-op
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(TPM_RH_NULL).pw_session().u32(1).u16(TPM_ALG_SHA256).raw(d).bytes()).rc, 0u);
}

TEST_F(Commands, PcrReadReturnsAtMostEightDigests) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_PCR_Read).u32(2).u16(TPM_ALG_SHA1).u8(3).u8(0xFF).u8(0x0F).u8(0)
                            .u16(TPM_ALG_SHA256).u8(3).u8(0xFF).u8(0).u8(0).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u32();
  ASSERT_EQ(r.u32(), 2u);
  EXPECT_EQ(r.u16(), TPM_ALG_SHA1);
  EXPECT_EQ(r.u8(), 3);
  EXPECT_EQ(r.take(3), (Bytes{0xFF, 0x00, 0x00})) << "only the 8 PCRs that fit";
  EXPECT_EQ(r.u16(), TPM_ALG_SHA256);
  EXPECT_EQ(r.u8(), 3);
  EXPECT_EQ(r.take(3), (Bytes{0, 0, 0}));
  EXPECT_EQ(r.u32(), 8u);
}

TEST_F(Commands, ClockSetMovesOnlyForward) {
  auto set = [&](uint64_t t) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_PLATFORM).pw_session().u64(t).bytes()).rc;
  };
  EXPECT_EQ(set(1'000'000'000), 0u);
  platform.now += 10;
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_ReadClock).bytes());
  r.u64();
  EXPECT_EQ(r.u64(), 1'000'000'010u);
  EXPECT_EQ(set(5), rc_param(TPM_RC_VALUE, 1));
  EXPECT_EQ(set(0xFFFF000000000001ull), rc_param(TPM_RC_VALUE, 1));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_ClockRateAdjust).u32(TPM_RH_OWNER).pw_session().u8(4).bytes()).rc,
            rc_param(TPM_RC_VALUE, 1));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_ClockRateAdjust).u32(TPM_RH_OWNER).pw_session().u8(0xFF).bytes()).rc, 0u);
}

// PP_Commands gates platform authorizations of the listed commands on physical presence:
// TPM_RC_PP + session 1 (Part 3 §26.2), whatever the password; owner authorizations are not gated.
TEST_F(Commands, PpCommandsGatePlatformAuthorization) {
  auto pp_commands = [&](TPM_CC set, TPM_CC clear) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_PP_Commands).u32(TPM_RH_PLATFORM).pw_session()
                        .u32(1).u32(set).u32(1).u32(clear).bytes()).rc;
  };
  auto clock_set = [&](TPM_HANDLE h) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_ClockSet).u32(h).pw_session().u64(1'000'000'000).bytes()).rc;
  };
  const TPM_RC kPpS1 = TPM_RC_PP | 0x800 | 0x100;
  platform.pp = false;
  EXPECT_EQ(pp_commands(TPM_CC_ClockSet, TPM_CC_PP_Commands), kPpS1);
  platform.pp = true;
  EXPECT_EQ(pp_commands(TPM_CC_ClockSet, TPM_CC_PP_Commands), 0u);  // PP_Commands stays gated
  EXPECT_EQ(pp_commands(TPM_CC_GetRandom, 0), 0u);                  // no platform handle: ignored
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_PP_COMMANDS).u32(0).u32(10).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u8();
  EXPECT_EQ(r.u32(), TPM_CAP_PP_COMMANDS);
  ASSERT_EQ(r.u32(), 2u);
  EXPECT_EQ(r.u32(), TPM_CC_ClockSet);  // ascending: 0x128, 0x12D
  EXPECT_EQ(r.u32(), TPM_CC_PP_Commands);
  EXPECT_EQ(clock_set(TPM_RH_PLATFORM), 0u);
  platform.pp = false;
  EXPECT_EQ(clock_set(TPM_RH_PLATFORM), kPpS1);
  EXPECT_EQ(clock_set(TPM_RH_OWNER), 0u);
}

TEST_F(Commands, ObjectSlotsRunOutAndFlushFreesThem) {
  std::vector<uint32_t> handles;
  for (size_t i = 0; i < profile::kMaxLoadedObjects; ++i) {
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_HashSequenceStart).u16(0).u16(TPM_ALG_SHA1).bytes());
    ASSERT_EQ(r.rc, 0u);
    handles.push_back(r.u32());
  }
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_HashSequenceStart).u16(0).u16(TPM_ALG_SHA1).bytes()).rc,
            TPM_RC_OBJECT_MEMORY);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(handles[1]).bytes()).rc, 0u);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(handles[1]).bytes()).rc, rc_param(TPM_RC_HANDLE, 1));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_FlushContext).u32(0x40000001).bytes()).rc, rc_param(TPM_RC_VALUE, 1));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_HashSequenceStart).u16(0).u16(TPM_ALG_SHA1).bytes()).rc, 0u);
}

TEST_F(Commands, CapabilityPropertiesPageWithMoreData) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_TPM_PROPERTIES).u32(0x100).u32(3).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.u8(), 1) << "moreData";
  EXPECT_EQ(r.u32(), TPM_CAP_TPM_PROPERTIES);
  ASSERT_EQ(r.u32(), 3u);
  EXPECT_EQ(r.u32(), 0x100u);
  EXPECT_EQ(r.u32(), 0x322E3000u) << "\"2.0\"";
  r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_TPM_PROPERTIES).u32(TPM_PT_MAX_DIGEST).u32(1).bytes());
  r.u8();
  r.u32();
  r.u32();
  EXPECT_EQ(r.u32(), TPM_PT_MAX_DIGEST);
  EXPECT_EQ(r.u32(), profile::kSha512 ? 64u : 48u) << "SHA-512 in the host profile";
  // all of them at once: the last page says no more
  r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_TPM_PROPERTIES).u32(0x100).u32(127).bytes());
  EXPECT_EQ(r.u8(), 0);
}

TEST_F(Commands, CapabilityCommandsListTheTable) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_COMMANDS).u32(0).u32(256).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.u8(), 0);
  r.u32();
  uint32_t n = r.u32();
  std::set<uint32_t> codes;
  for (uint32_t i = 0; i < n; ++i) codes.insert(r.u32() & 0xFFFF);
  EXPECT_TRUE(codes.count(TPM_CC_GetRandom));
  EXPECT_TRUE(codes.count(TPM_CC_PCR_Extend));
  EXPECT_EQ(codes.size(), n);
}

TEST_F(Commands, CapabilityHandlesAndErrors) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_HANDLES).u32(0).u32(100).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u8();
  r.u32();
  EXPECT_EQ(r.u32(), profile::kNumPcrs);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_HANDLES).u32(0x05000000).u32(1).bytes()).rc,
            rc_param(TPM_RC_HANDLE, 2));
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(0x0B).u32(0).u32(1).bytes()).rc,
            rc_param(TPM_RC_VALUE, 1));
  // Part 3 TPM2_GetCapability: for TPM_CAP_PCRS "The property parameter shall be zero."
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_PCRS).u32(1).u32(1).bytes()).rc,
            rc_param(TPM_RC_VALUE, 2));
  r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_PCRS).u32(0).u32(1).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u8();
  r.u32();
  ASSERT_EQ(r.u32(), profile::kSha512 ? 4u : 3u) << "one bank per implemented hash";
  EXPECT_EQ(r.u16(), TPM_ALG_SHA1);
  EXPECT_EQ(r.u8(), 3);
  EXPECT_EQ(r.take(3), (Bytes{0xFF, 0xFF, 0xFF}));
  r.take(6);
  EXPECT_EQ(r.u16(), TPM_ALG_SHA384);
  r.u8();
  EXPECT_EQ(r.take(3), (Bytes{0xFF, 0xFF, 0xFF})) << "SHA-384 bank allocated (profile::kPcrBankAlgs)";
  if (profile::kSha512) {
    EXPECT_EQ(r.u16(), TPM_ALG_SHA512);
    r.u8();
    EXPECT_EQ(r.take(3), (Bytes{0xFF, 0xFF, 0xFF})) << "host profile: SHA-512 bank allocated";
  }
}

TEST_F(Commands, SelfTestsAndTestResult) {
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_SelfTest).u8(1).bytes()).rc, 0u);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_SelfTest).u8(2).bytes()).rc, rc_param(TPM_RC_VALUE, 1));
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_IncrementalSelfTest).u32(1).u16(TPM_ALG_SHA256).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.u32(), 0u) << "nothing left to test";
  r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetTestResult).bytes());
  ASSERT_EQ(r.rc, 0u);
  EXPECT_EQ(r.tpm2b().size(), 0u);
  EXPECT_EQ(r.u32(), TPM_RC_SUCCESS);
}

// ---- derived objects (Part 1 "Derived objects", Part 3 §12.9) ----

// The first n octets of KDFa(SHA-256, secret, label, context, 8192), with OpenSSL's HMAC.
Bytes derive_stream(const Bytes& secret, const Bytes& label, const Bytes& context, size_t n) {
  Bytes out;
  for (uint32_t i = 1; out.size() < n; ++i) {
    Bytes msg = {uint8_t(i >> 24), uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    msg = cat(cat(cat(msg, label), Bytes{0}), context);
    msg = cat(msg, Bytes{0, 0, 0x20, 0});  // 8192 bits
    Bytes block(32);
    unsigned len = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()), msg.data(), msg.size(), block.data(), &len);
    out = cat(out, block);
  }
  out.resize(n);
  return out;
}

class Derived : public Commands {
 protected:
  static constexpr uint32_t kFixedParent = 1u << 4, kSdo = 1u << 5, kUser = 1u << 6, kNoDa = 1u << 10,
                            kRestricted = 1u << 16, kDecrypt = 1u << 17, kSign = 1u << 18;
  const Bytes secret = Bytes(32, 0x5A);
  // A derivation parent under the null hierarchy whose secret is `secret`; returns its handle.
  uint32_t parent() {
    Bytes tmpl = CommandBuilder(0, 0).u16(TPM_ALG_KEYEDHASH).u16(TPM_ALG_SHA256).u32(kRestricted | kDecrypt | kUser | kNoDa)
                     .u16(0).u16(TPM_ALG_XOR).u16(TPM_ALG_SHA256).u16(TPM_ALG_KDF1_SP800_108).u16(0).bytes();
    tmpl.erase(tmpl.begin(), tmpl.begin() + 10);
    Bytes sens = CommandBuilder(0, 0).u16(0).tpm2b(secret).bytes();
    sens.erase(sens.begin(), sens.begin() + 10);
    Response r = run(tpm, CommandBuilder(0x8002, TPM_CC_CreatePrimary).u32(TPM_RH_NULL).pw_session()
                              .tpm2b(sens).tpm2b(tmpl).u16(0).u32(0).bytes());
    EXPECT_EQ(r.rc, 0u);
    return r.u32();
  }
  // CreateLoaded under `parent` with password sessions; the raw response.
  Response create_loaded(uint32_t parent, uint16_t type, uint32_t attrs, const Bytes& parms, const Bytes& label,
                         const Bytes& context, const Bytes& data = {}) {
    Bytes tmpl = CommandBuilder(0, 0).u16(type).u16(TPM_ALG_SHA256).u32(attrs).u16(0).raw(parms).tpm2b(label)
                     .tpm2b(context).bytes();
    tmpl.erase(tmpl.begin(), tmpl.begin() + 10);
    Bytes sens = CommandBuilder(0, 0).tpm2b(Bytes{'a'}).tpm2b(data).bytes();
    sens.erase(sens.begin(), sens.begin() + 10);
    return run(tpm, CommandBuilder(0x8002, TPM_CC_CreateLoaded).u32(parent).pw_session().tpm2b(sens).tpm2b(tmpl).bytes());
  }
  static Bytes hmac_parms() { return {0, 0x05, 0, 0x0B}; }  // HMAC, SHA-256
  static Bytes aes128_parms() { return {0, 0x06, 0, 128, 0, 0x43}; }  // AES-128-CFB
};

TEST_F(Derived, KeyedHashAndSymmetricKeysAreTheParentsKdfaStream) {
  const uint32_t p = parent();
  const Bytes label = {'l', 'a', 'b'}, context = {'c', 't', 'x'};
  Response r = create_loaded(p, TPM_ALG_KEYEDHASH, kFixedParent | kSign | kUser, hmac_parms(), label, context);
  ASSERT_EQ(r.rc, 0u);
  const uint32_t h = r.u32();
  r.u32();  // parameterSize
  EXPECT_EQ(r.tpm2b(), Bytes{}) << "no private blob for a derived object";
  Bytes pub = r.tpm2b();
  const Bytes s = derive_stream(secret, label, context, 64);
  const Bytes key(s.begin(), s.begin() + 32), seed(s.begin() + 32, s.end());
  EXPECT_EQ(Bytes(pub.end() - 32, pub.end()), digest(EVP_sha256(), cat(seed, key))) << "unique = H(seedValue || key)";
  const Bytes msg = {'m', 's', 'g'};
  r = run(tpm, CommandBuilder(0x8002, TPM_CC_HMAC).u32(h).pw_session(Bytes{'a'}).tpm2b(msg).u16(TPM_ALG_SHA256).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u32();
  Bytes mac(32);
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), msg.data(), msg.size(), mac.data(), &len);
  EXPECT_EQ(r.tpm2b(), mac);
  // A 16-octet AES key, then the 32-octet seedValue.
  r = create_loaded(p, TPM_ALG_SYMCIPHER, kFixedParent | kSign | kDecrypt | kUser, aes128_parms(), label, context);
  ASSERT_EQ(r.rc, 0u);
  r.u32();
  r.u32();
  r.tpm2b();
  pub = r.tpm2b();
  const Bytes s2 = derive_stream(secret, label, context, 48);
  EXPECT_EQ(Bytes(pub.end() - 32, pub.end()),
            digest(EVP_sha256(), cat(Bytes(s2.begin() + 16, s2.end()), Bytes(s2.begin(), s2.begin() + 16))));
}

TEST_F(Derived, RefusedCases) {
  const uint32_t p = parent();
  const Bytes l = {'l'}, c = {'c'};
  const Bytes rsa = {0, 0x10, 0, 0x10, 0x08, 0, 0, 0, 0, 0};
  EXPECT_EQ(create_loaded(p, TPM_ALG_RSA, kFixedParent | kSign | kUser, rsa, l, c).rc, rc_param(TPM_RC_TYPE, 2));
  EXPECT_EQ(create_loaded(p, TPM_ALG_KEYEDHASH, kFixedParent | kSdo | kSign | kUser, hmac_parms(), l, c).rc,
            rc_param(TPM_RC_ATTRIBUTES, 2));
  EXPECT_EQ(create_loaded(p, TPM_ALG_KEYEDHASH, kSign | kUser, hmac_parms(), l, c).rc, rc_param(TPM_RC_ATTRIBUTES, 2));
  EXPECT_EQ(create_loaded(p, TPM_ALG_KEYEDHASH, kFixedParent | kSign | kUser, hmac_parms(), Bytes(33, 'x'), c).rc,
            rc_param(TPM_RC_SIZE, 2));
  // inSensitive.data, when given, is a TPMS_DERIVE.
  EXPECT_EQ(create_loaded(p, TPM_ALG_KEYEDHASH, kFixedParent | kSign | kUser, hmac_parms(), {}, {}, Bytes{0, 5, 1}).rc,
            rc_param(TPM_RC_INSUFFICIENT, 1));
  // Nothing is wrapped under a derivation parent.
  Bytes pub = CommandBuilder(0, 0).u16(TPM_ALG_KEYEDHASH).u16(TPM_ALG_SHA256).u32(kFixedParent | kSign | kUser).u16(0)
                  .raw(hmac_parms()).tpm2b(Bytes(32, 1)).bytes();
  pub.erase(pub.begin(), pub.begin() + 10);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_Load).u32(p).pw_session().tpm2b(Bytes(40, 1)).tpm2b(pub).bytes()).rc,
            rc_handle(TPM_RC_TYPE, 1));
}

}  // namespace
}  // namespace utpm::tpm
