// Command frame: header, size, tag, unknown command, handle and authorization area errors.
#include <gtest/gtest.h>

#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::run;

class Execute : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }
  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(Execute, ShortBufferIsCommandSize) {
  EXPECT_EQ(run(tpm, {0x80, 0x01, 0, 0, 0}).rc, TPM_RC_COMMAND_SIZE);
  EXPECT_EQ(run(tpm, {}).rc, TPM_RC_COMMAND_SIZE);
}

TEST_F(Execute, BadTag) {
  auto cmd = CommandBuilder(0x8003, TPM_CC_GetRandom).u16(8).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_BAD_TAG);
  cmd = CommandBuilder(0x00C1, TPM_CC_GetRandom).u16(8).bytes();  // a TPM 1.2 tag
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_BAD_TAG);
}

TEST_F(Execute, SizeFieldMustMatchBytesReceived) {
  auto cmd = CommandBuilder(0x8001, TPM_CC_GetRandom).u16(8).bytes();
  auto longer = cmd;
  longer.push_back(0);  // one byte more than the header says
  EXPECT_EQ(run(tpm, longer).rc, TPM_RC_COMMAND_SIZE);
  auto shorter = cmd;
  shorter.pop_back();
  EXPECT_EQ(run(tpm, shorter).rc, TPM_RC_COMMAND_SIZE);
}

TEST_F(Execute, SizeAboveMaximumIsCommandSize) {
  std::vector<uint8_t> big(profile::kMaxCommandSize + 1, 0);
  auto head = CommandBuilder(0x8001, TPM_CC_GetRandom).bytes();
  std::copy(head.begin(), head.end(), big.begin());
  uint32_t n = uint32_t(big.size());
  big[2] = uint8_t(n >> 24); big[3] = uint8_t(n >> 16); big[4] = uint8_t(n >> 8); big[5] = uint8_t(n);
  EXPECT_EQ(run(tpm, big).rc, TPM_RC_COMMAND_SIZE);
}

TEST_F(Execute, UnknownCommandCode) {
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, 0x1FF).bytes()).rc, TPM_RC_COMMAND_CODE);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, 0x20000000).bytes()).rc, TPM_RC_COMMAND_CODE);
}

TEST_F(Execute, TrailingBytesAfterParametersAreSize) {
  auto cmd = CommandBuilder(0x8001, TPM_CC_GetRandom).u16(8).u8(0).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_SIZE);
}

TEST_F(Execute, TruncatedParameterIsInsufficientWithNumber) {
  auto cmd = CommandBuilder(0x8001, TPM_CC_GetRandom).u8(8).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_param(TPM_RC_INSUFFICIENT, 1));
  // Hash: data ok, hashAlg bad -> parameter 2
  cmd = CommandBuilder(0x8001, TPM_CC_Hash).tpm2b(std::vector<uint8_t>{1}).u16(0x0006).u32(TPM_RH_NULL).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_param(TPM_RC_HASH, 2));
  // Hash: hierarchy bad -> parameter 3
  cmd = CommandBuilder(0x8001, TPM_CC_Hash).tpm2b(std::vector<uint8_t>{1}).u16(TPM_ALG_SHA256).u32(0x40000009).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_param(TPM_RC_VALUE, 3));
}

TEST_F(Execute, AuthorizationIsRequiredWhereTheCommandSaysSo) {
  std::vector<uint8_t> digest(32, 0);
  auto no_sessions = CommandBuilder(0x8001, TPM_CC_PCR_Extend).u32(0).u32(1).u16(TPM_ALG_SHA256).raw(digest).bytes();
  EXPECT_EQ(run(tpm, no_sessions).rc, TPM_RC_AUTH_MISSING);
  auto ok = CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(0).pw_session().u32(1).u16(TPM_ALG_SHA256).raw(digest).bytes();
  auto r = run(tpm, ok);
  EXPECT_EQ(r.rc, TPM_RC_SUCCESS);
  EXPECT_EQ(r.tag, TPM_ST_SESSIONS);
  // parameterSize 0, then the password session's response: nonce(0) attrs hmac(0)
  EXPECT_EQ(r.body, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST_F(Execute, AuthorizationAreaErrors) {
  std::vector<uint8_t> digest(32, 0);
  auto base = [&] { return CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(0); };
  // authorizationSize larger than what follows
  EXPECT_EQ(run(tpm, base().u32(200).bytes()).rc, TPM_RC_AUTHSIZE);
  // authorizationSize below the smallest session
  EXPECT_EQ(run(tpm, base().u32(4).u32(TPM_RS_PW).u32(1).bytes()).rc, TPM_RC_AUTHSIZE);
  // password session with a nonce
  auto with_nonce = base().u32(10).u32(TPM_RS_PW).u16(1).u8(0xAA).u8(0).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, with_nonce).rc, rc_session(TPM_RC_NONCE, 1));
  // password session asking for encryption
  auto encrypt = base().u32(9).u32(TPM_RS_PW).u16(0).u8(0x40).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, encrypt).rc, rc_session(TPM_RC_ATTRIBUTES, 1));
  // reserved attribute bit
  auto reserved = base().u32(9).u32(TPM_RS_PW).u16(0).u8(0x08).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, reserved).rc, rc_session(TPM_RC_RESERVED_BITS, 1));
  // an HMAC session that does not exist
  auto hmac = base().u32(9).u32(0x02000000).u16(0).u8(1).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, hmac).rc, TPM_RC_REFERENCE_S0);
  // not a session handle at all
  auto bogus = base().u32(9).u32(0x81000000).u16(0).u8(1).u16(0).u32(0).bytes();
  EXPECT_EQ(run(tpm, bogus).rc, rc_session(TPM_RC_HANDLE, 1));
  (void)digest;
}

TEST_F(Execute, WrongPasswordIsBadAuthForEntitiesOutsideDa) {
  std::vector<uint8_t> pw = {'x'};
  auto cmd = CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_OWNER).pw_session(pw).u64(1u << 30).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_session(TPM_RC_BAD_AUTH, 1));
  // Trailing zeros do not count: an all-zero password equals the empty authValue.
  std::vector<uint8_t> zeros = {0, 0};
  cmd = CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_OWNER).pw_session(zeros).u64(1u << 30).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_SUCCESS);
}

TEST_F(Execute, HandleValuesAreChecked) {
  std::vector<uint8_t> digest(32, 0);
  auto cmd = CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(24).pw_session().u32(1).u16(TPM_ALG_SHA256).raw(digest).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_handle(TPM_RC_VALUE, 1));
  cmd = CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_ENDORSEMENT).pw_session().u64(1).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_handle(TPM_RC_VALUE, 1));
  cmd = CommandBuilder(0x8002, TPM_CC_SequenceUpdate).u32(0x80000001).pw_session().u16(0).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_REFERENCE_H0);
  // missing handle
  cmd = CommandBuilder(0x8001, TPM_CC_PCR_Reset).u16(0).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, rc_handle(TPM_RC_INSUFFICIENT, 1));
}

TEST_F(Execute, NvUnavailableRefusesNvCommandsOnly) {
  tpm.set_nv_available(false);
  auto cmd = CommandBuilder(0x8002, TPM_CC_ClockSet).u32(TPM_RH_OWNER).pw_session().u64(1u << 30).bytes();
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_NV_UNAVAILABLE);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_GetRandom).u16(4).bytes()).rc, TPM_RC_SUCCESS);
  tpm.set_nv_available(true);
  EXPECT_EQ(run(tpm, cmd).rc, TPM_RC_SUCCESS);
}

TEST(ExecuteUnpowered, AnswersFailureWithoutPower) {
  FakePlatform platform;
  Tpm tpm{platform};
  EXPECT_EQ(testing::run(tpm, CommandBuilder(0x8001, TPM_CC_GetRandom).u16(8).bytes()).rc, TPM_RC_FAILURE);
}

TEST(ExecuteFailureMode, OnlyTestResultAndCapabilityAnswer) {
  FakePlatform platform;
  platform.store.fail_read = NvStore::Result::integrity_error;
  Tpm tpm{platform};
  tpm.power_on();
  ASSERT_TRUE(tpm.in_failure_mode());
  EXPECT_EQ(tpm.failure_cause(), FailureCause::nv_integrity);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(0).bytes()).rc, TPM_RC_FAILURE);
  auto r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetTestResult).bytes());
  ASSERT_EQ(r.rc, TPM_RC_SUCCESS);
  auto out = r.tpm2b();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], uint8_t(FailureCause::nv_integrity));
  EXPECT_EQ(r.u32(), TPM_RC_FAILURE);
}

}  // namespace
}  // namespace utpm::tpm
