// Authorization failures that must fail closed: a dictionary-attack failure that the store cannot
// record, and DA-protected authValues while NV is unavailable (issue 18 item 10). Object
// secrets and unique values are computed here with OpenSSL.
#include <gtest/gtest.h>
#include <openssl/evp.h>

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

constexpr uint32_t kUserWithAuth = 1u << 6, kNoDa = 1u << 10, kSign = 1u << 18;

Bytes sha256(const Bytes& a, const Bytes& b) {
  Bytes in = a;
  in.insert(in.end(), b.begin(), b.end());
  Bytes out(32);
  unsigned n = 0;
  EVP_Digest(in.data(), in.size(), out.data(), &n, EVP_sha256(), nullptr);
  return out;
}

class FailClosed : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }

  // LoadExternal of an HMAC key (null hierarchy) with authValue "right"; unique = H(seed || key).
  uint32_t load_hmac_key(bool no_da) {
    const Bytes seed(32, 0x5E), key(32, 0x4B), auth = {'r', 'i', 'g', 'h', 't'};
    Bytes sensitive = CommandBuilder(0, 0).u16(TPM_ALG_KEYEDHASH).tpm2b(auth).tpm2b(seed).tpm2b(key).bytes();
    sensitive.erase(sensitive.begin(), sensitive.begin() + 10);  // drop the builder's header
    Bytes pub = CommandBuilder(0, 0)
                    .u16(TPM_ALG_KEYEDHASH).u16(TPM_ALG_SHA256).u32(kUserWithAuth | kSign | (no_da ? kNoDa : 0))
                    .u16(0).u16(TPM_ALG_HMAC).u16(TPM_ALG_SHA256).tpm2b(sha256(seed, key))
                    .bytes();
    pub.erase(pub.begin(), pub.begin() + 10);
    Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_LoadExternal).tpm2b(sensitive).tpm2b(pub).u32(TPM_RH_NULL).bytes());
    EXPECT_EQ(r.rc, 0u);
    return r.rc == 0 ? r.u32() : 0;
  }
  uint32_t hmac_with(uint32_t key, std::string_view password) {
    Bytes pw(password.begin(), password.end());
    return run(tpm, CommandBuilder(0x8002, TPM_CC_HMAC).u32(key).pw_session(pw).tpm2b(Bytes{1, 2, 3})
                        .u16(TPM_ALG_SHA256).bytes()).rc;
  }
  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(FailClosed, UnrecordableDictionaryAttackFailureIsNotAnAuthFail) {
  const uint32_t key = load_hmac_key(false);
  ASSERT_EQ(hmac_with(key, "wrong"), rc_session(TPM_RC_AUTH_FAIL, 1)) << "recorded normally";
  platform.store.fail_commit = true;
  EXPECT_EQ(hmac_with(key, "wrong"), TPM_RC_FAILURE)
      << "a failure that cannot be recorded must not be answered as an ordinary AUTH_FAIL";
  platform.store.fail_commit = false;
  EXPECT_EQ(hmac_with(key, "right"), TPM_RC_FAILURE) << "the TPM is in failure mode: nothing goes on";
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetTestResult).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.tpm2b();
  EXPECT_EQ(r.u32(), TPM_RC_FAILURE);
}

TEST_F(FailClosed, NoDictionaryAttackProtectedAuthValueIsCheckedWithoutNv) {
  const uint32_t key = load_hmac_key(false), no_da_key = load_hmac_key(true);
  tpm.set_nv_available(false);
  EXPECT_EQ(hmac_with(key, "wrong"), TPM_RC_NV_UNAVAILABLE) << "a failure could not be recorded";
  EXPECT_EQ(hmac_with(key, "right"), TPM_RC_NV_UNAVAILABLE) << "nor can the value be tried at all";
  EXPECT_EQ(hmac_with(no_da_key, "right"), 0u) << "noDA objects do not need NV";
  EXPECT_EQ(hmac_with(no_da_key, "wrong"), rc_session(TPM_RC_BAD_AUTH, 1));
  tpm.set_nv_available(true);
  EXPECT_EQ(hmac_with(key, "right"), 0u);
}

TEST_F(FailClosed, RecoveryTimeZeroNeedsNoNvForObjects) {
  const uint32_t key = load_hmac_key(false);
  // DictionaryAttackParameters(maxTries 3, recoveryTime 0, lockoutRecovery 0)
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_DictionaryAttackParameters).u32(TPM_RH_LOCKOUT).pw_session()
                         .u32(3).u32(0).u32(0).bytes()).rc, 0u);
  const int commits = platform.store.commits;
  tpm.set_nv_available(false);
  EXPECT_EQ(hmac_with(key, "wrong"), rc_session(TPM_RC_AUTH_FAIL, 1)) << "DA disabled: nothing to record";
  EXPECT_EQ(hmac_with(key, "right"), 0u);
  EXPECT_EQ(platform.store.commits, commits);
}

// Part 1 DA: after a non-orderly shutdown that followed a DA-protected authorization, the next
// Startup counts one failure (a failure the power cut may have kept off the record); not after an
// orderly shutdown, not without such an authorization, not with DA disabled (recoveryTime 0).
uint32_t lockout_counter(Tpm& tpm) {  // TPM_PT_LOCKOUT_COUNTER (PT_VAR + 14)
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(6).u32(0x20E).u32(1).bytes());
  EXPECT_EQ(r.rc, 0u);
  r.take(1 + 4 + 4);
  EXPECT_EQ(r.u32(), 0x20Eu);
  return r.u32();
}
uint32_t restart(Tpm& tpm) {
  tpm.reset();
  return run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc;
}
using DaUsed = FailClosed;
TEST_F(DaUsed, NonOrderlyShutdownAfterDaUseCountsOneFailure) {
  uint32_t key = load_hmac_key(false);
  ASSERT_EQ(hmac_with(key, "right"), 0u);
  ASSERT_EQ(lockout_counter(tpm), 0u);
  ASSERT_EQ(restart(tpm), 0u);  // power lost without Shutdown
  EXPECT_EQ(lockout_counter(tpm), 1u);
  ASSERT_EQ(restart(tpm), 0u);  // no DA use since that Startup: nothing more
  EXPECT_EQ(lockout_counter(tpm), 1u);
  key = load_hmac_key(false);
  ASSERT_EQ(hmac_with(key, "right"), 0u);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  ASSERT_EQ(restart(tpm), 0u);  // orderly
  EXPECT_EQ(lockout_counter(tpm), 1u);
  key = load_hmac_key(true);  // noDA: not DA use
  ASSERT_EQ(hmac_with(key, "right"), 0u);
  ASSERT_EQ(restart(tpm), 0u);
  EXPECT_EQ(lockout_counter(tpm), 1u);
}

TEST_F(DaUsed, NotCountedWithDaDisabledOrAtMaxTries) {
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_DictionaryAttackParameters).u32(TPM_RH_LOCKOUT).pw_session()
                         .u32(2).u32(0).u32(0).bytes()).rc, 0u);  // recoveryTime 0
  uint32_t key = load_hmac_key(false);
  ASSERT_EQ(hmac_with(key, "right"), 0u);
  ASSERT_EQ(restart(tpm), 0u);
  EXPECT_EQ(lockout_counter(tpm), 0u);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_DictionaryAttackParameters).u32(TPM_RH_LOCKOUT).pw_session()
                         .u32(2).u32(1000).u32(0).bytes()).rc, 0u);
  key = load_hmac_key(false);
  ASSERT_EQ(hmac_with(key, "wrong"), rc_session(TPM_RC_AUTH_FAIL, 1));
  ASSERT_EQ(hmac_with(key, "wrong"), rc_session(TPM_RC_AUTH_FAIL, 1));
  ASSERT_EQ(lockout_counter(tpm), 2u);
  ASSERT_EQ(restart(tpm), 0u);
  EXPECT_EQ(lockout_counter(tpm), 2u) << "already at maxTries";
}

}  // namespace
}  // namespace utpm::tpm

namespace utpm::tpm {
namespace {

// A TPMT_TK_HASHCHECK is checked when unmarshalled, whatever key signs: tag TPM_ST_HASHCHECK
// (TPM_RC_TAG) and hierarchy TPMI_RH_HIERARCHY+ (TPM_RC_VALUE), numbered as parameter 3 of Sign.
using Tickets = FailClosed;
TEST_F(Tickets, SignRefusesMalformedTicketsAtUnmarshal) {
  const uint32_t key = load_hmac_key(true);
  auto sign = [&](uint16_t tag, uint32_t hierarchy) {
    return run(tpm, CommandBuilder(0x8002, TPM_CC_Sign).u32(key).pw_session(Bytes{'r', 'i', 'g', 'h', 't'})
                        .tpm2b(Bytes(32, 1)).u16(TPM_ALG_NULL).u16(tag).u32(hierarchy).u16(0).bytes()).rc;
  };
  EXPECT_EQ(sign(TPM_ST_HASHCHECK, TPM_RH_NULL), 0u) << "the NULL ticket of an unrestricted key";
  EXPECT_EQ(sign(0x8021 /* TPM_ST_VERIFIED */, TPM_RH_NULL), rc_param(TPM_RC_TAG, 3));
  EXPECT_EQ(sign(TPM_ST_HASHCHECK, 0x40000002 /* not a hierarchy */), rc_param(TPM_RC_VALUE, 3));
  EXPECT_EQ(sign(TPM_ST_HASHCHECK, TPM_RH_LOCKOUT), rc_param(TPM_RC_VALUE, 3));
}

}  // namespace
}  // namespace utpm::tpm
