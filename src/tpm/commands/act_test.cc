// Authenticated Countdown Timers (Part 3 ACT_SetTimeout, TPM_CAP_ACT) against a fake timer:
// countdown, signal, UINT32_MAX rule, authorization (platformAuth, the ACT's policy), and what
// Shutdown/Startup keep. Expected values are the rules of docs/engine.md "ACT", written out here.
#include <gtest/gtest.h>

#include "tpm/testing/fake_platform.h"
#include "tpm/tpm.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {
namespace {

using testing::CommandBuilder;
using testing::FakePlatform;
using testing::Response;
using testing::run;

constexpr uint32_t kAct0 = 0x40000110, kAct1 = 0x40000111;
constexpr uint32_t kHeld = 0xFFFFFFFF;

std::vector<uint8_t> set_timeout(uint32_t act, uint32_t seconds, std::vector<uint8_t> pw = {}) {
  return CommandBuilder(0x8002, TPM_CC_ACT_SetTimeout).u32(act).pw_session(pw).u32(seconds).bytes();
}

struct ActData {
  uint32_t handle, timeout, attributes;
};
std::vector<ActData> cap_act(Tpm& tpm, uint32_t from = kAct0, uint32_t n = 16, uint8_t* more = nullptr) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_ACT).u32(from).u32(n).bytes());
  EXPECT_EQ(r.rc, 0u);
  std::vector<ActData> out;
  if (r.rc) return out;
  uint8_t m = r.u8();
  if (more) *more = m;
  EXPECT_EQ(r.u32(), TPM_CAP_ACT);
  for (uint32_t i = 0, count = r.u32(); i < count; ++i) {
    ActData d;
    d.handle = r.u32();
    d.timeout = r.u32();
    d.attributes = r.u32();
    out.push_back(d);
  }
  EXPECT_EQ(r.left(), 0u);
  return out;
}
ActData act0(Tpm& tpm) { return cap_act(tpm).at(0); }

class Act : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }
  void seconds(uint64_t s) { platform.now += s * 1000; }
  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(Act, ListsTheImplementedActsStoppedAfterStartup) {
  std::vector<ActData> l = cap_act(tpm);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].handle, kAct0);
  EXPECT_EQ(l[1].handle, kAct1);
  for (const ActData& d : l) {
    EXPECT_EQ(d.timeout, 0u);
    EXPECT_EQ(d.attributes, 0u);
  }
  uint8_t more = 9;
  l = cap_act(tpm, kAct0, 1, &more);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(more, 1);
  l = cap_act(tpm, kAct1, 16, &more);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].handle, kAct1);
  EXPECT_EQ(more, 0);
  EXPECT_TRUE(cap_act(tpm, 0x4000011F).empty()) << "an ACT handle beyond the implemented ones: empty list";
  // A property that is not an ACT handle: TPM_RC_VALUE + P2.
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_ACT).u32(0x4000000C).u32(1).bytes());
  EXPECT_EQ(r.rc, TPM_RC_VALUE + 0x40 + 0x200);
}

TEST_F(Act, CountsDownAndSignalsAtZero) {
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 5)).rc, 0u);
  EXPECT_EQ(act0(tpm).timeout, 5u);
  EXPECT_EQ(act0(tpm).attributes, 0u);
  platform.now += 1999;  // 1.999 s: one whole second gone
  EXPECT_EQ(act0(tpm).timeout, 4u);
  seconds(3);
  EXPECT_EQ(act0(tpm).timeout, 1u);
  EXPECT_EQ(act0(tpm).attributes, 0u);
  platform.now += 1;  // 5 s
  EXPECT_EQ(act0(tpm).timeout, 0u);
  EXPECT_EQ(act0(tpm).attributes, TPMA_ACT_signaled);
  seconds(100);
  EXPECT_EQ(act0(tpm).attributes, TPMA_ACT_signaled) << "the signal stays until the ACT is set again";
  EXPECT_EQ(cap_act(tpm).at(1).attributes, 0u) << "ACT_1 untouched";
  // A new countdown turns the signal off.
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 10)).rc, 0u);
  EXPECT_EQ(act0(tpm).timeout, 10u);
  EXPECT_EQ(act0(tpm).attributes, 0u);
}

TEST_F(Act, ZeroStopsARunningActWithItsSignal) {
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 0)).rc, 0u);
  EXPECT_EQ(act0(tpm).attributes, 0u) << "a stopped ACT set to zero does not signal";
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 30)).rc, 0u);
  seconds(2);
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 0)).rc, 0u);
  EXPECT_EQ(act0(tpm).timeout, 0u);
  EXPECT_EQ(act0(tpm).attributes, TPMA_ACT_signaled);
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 0)).rc, 0u);
  EXPECT_EQ(act0(tpm).attributes, TPMA_ACT_signaled) << "zero again keeps the signal";
}

TEST_F(Act, MaxOnlySilencesASignaledAct) {
  EXPECT_EQ(run(tpm, set_timeout(kAct0, kHeld)).rc, TPM_RC_VALUE + 0x40 + 0x100) << "not signaled: VALUE+P1";
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 1)).rc, 0u);
  EXPECT_EQ(run(tpm, set_timeout(kAct0, kHeld)).rc, TPM_RC_VALUE + 0x40 + 0x100) << "running: VALUE+P1";
  seconds(1);
  ASSERT_EQ(act0(tpm).attributes, TPMA_ACT_signaled);
  ASSERT_EQ(run(tpm, set_timeout(kAct0, kHeld)).rc, 0u);
  EXPECT_EQ(act0(tpm).timeout, kHeld);
  EXPECT_EQ(act0(tpm).attributes, 0u);
  seconds(1000);
  EXPECT_EQ(act0(tpm).timeout, kHeld) << "held: no countdown";
}

TEST_F(Act, HandleAndAuthorization) {
  // TPMI_RH_ACT: an ACT this TPM lacks, or another permanent handle, is TPM_RC_VALUE + H1.
  EXPECT_EQ(run(tpm, set_timeout(0x40000112, 5)).rc, TPM_RC_VALUE + 0x100);
  EXPECT_EQ(run(tpm, set_timeout(TPM_RH_PLATFORM, 5)).rc, TPM_RC_VALUE + 0x100);
  // platformAuth authorizes the ACTs.
  std::vector<uint8_t> pw = {'p', 'a'};
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_HierarchyChangeAuth).u32(TPM_RH_PLATFORM).pw_session().tpm2b(pw).bytes()).rc,
            0u);
  EXPECT_EQ(run(tpm, set_timeout(kAct0, 5)).rc, TPM_RC_BAD_AUTH + 0x100 + 0x800) << "empty password: BAD_AUTH, session 1";
  EXPECT_EQ(run(tpm, set_timeout(kAct0, 5, pw)).rc, 0u);
  // HierarchyChangeAuth (TPMI_RH_HIERARCHY_AUTH) does not take an ACT.
  EXPECT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_HierarchyChangeAuth).u32(kAct0).pw_session(pw).tpm2b(pw).bytes()).rc,
            TPM_RC_VALUE + 0x100);
  // SetPrimaryPolicy (TPMI_RH_HIERARCHY_POLICY) does, authorized by the ACT itself, and the
  // policy shows in TPM_CAP_AUTH_POLICIES.
  std::vector<uint8_t> policy(32, 0xAB);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_SetPrimaryPolicy).u32(kAct1).pw_session(pw).tpm2b(policy).u16(TPM_ALG_SHA256).bytes()).rc,
            0u);
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_AUTH_POLICIES).u32(kAct0).u32(8).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u8();
  r.u32();
  ASSERT_EQ(r.u32(), 2u);
  EXPECT_EQ(r.u32(), kAct0);
  EXPECT_EQ(r.u16(), TPM_ALG_NULL);
  EXPECT_EQ(r.u32(), kAct1);
  EXPECT_EQ(r.u16(), TPM_ALG_SHA256);
  EXPECT_EQ(r.take(32), policy);
  // TPM_CAP_HANDLES lists the ACTs among the permanent handles.
  r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_HANDLES).u32(0x40000100).u32(64).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.u8();
  r.u32();
  ASSERT_EQ(r.u32(), 2u);
  EXPECT_EQ(r.u32(), kAct0);
  EXPECT_EQ(r.u32(), kAct1);
}

TEST_F(Act, ResumeKeepsCountdownSignalAndPolicyRestartAndResetStopThem) {
  std::vector<uint8_t> policy(32, 0x11);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8002, TPM_CC_SetPrimaryPolicy).u32(kAct0).pw_session().tpm2b(policy).u16(TPM_ALG_SHA256).bytes()).rc, 0u);
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 100)).rc, 0u);
  ASSERT_EQ(run(tpm, set_timeout(kAct1, 1)).rc, 0u);
  seconds(10);  // ACT_0 at 90, ACT_1 signaled
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_STATE).bytes()).rc, 0u);
  tpm.reset();
  seconds(50);  // powered off: no countdown
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_STATE).bytes()).rc, 0u);
  std::vector<ActData> l = cap_act(tpm);
  EXPECT_EQ(l.at(0).timeout, 90u);
  EXPECT_EQ(l.at(0).attributes, 0u);
  EXPECT_EQ(l.at(1).timeout, 0u);
  EXPECT_EQ(l.at(1).attributes, TPMA_ACT_signaled | TPMA_ACT_preserveSignaled);
  seconds(3);
  EXPECT_EQ(act0(tpm).timeout, 87u);
  // The policy came back with the Resume: TPM_CAP_AUTH_POLICIES shows it.
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(TPM_CAP_AUTH_POLICIES).u32(kAct0).u32(1).bytes());
  ASSERT_EQ(r.rc, 0u);
  r.take(1 + 4 + 4 + 4);
  EXPECT_EQ(r.u16(), TPM_ALG_SHA256);
  EXPECT_EQ(r.take(32), policy);
  // Setting an ACT clears its preserveSignaled.
  ASSERT_EQ(run(tpm, set_timeout(kAct1, 0)).rc, 0u);
  EXPECT_EQ(cap_act(tpm).at(1).attributes, TPMA_ACT_signaled);

  // Not set since that Startup: a Shutdown(STATE) saves half the time left.
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_STATE).bytes()).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_STATE).bytes()).rc, 0u);
  // ACT_0 was restored, not set, since that Startup: 87 / 2; ACT_1 was set (stopped, signaled).
  EXPECT_EQ(act0(tpm).timeout, 43u);
  EXPECT_EQ(cap_act(tpm).at(1).attributes, TPMA_ACT_signaled | TPMA_ACT_preserveSignaled);
}

TEST_F(Act, RestartAndResetStopEveryAct) {
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 100)).rc, 0u);
  ASSERT_EQ(run(tpm, set_timeout(kAct1, 1)).rc, 0u);
  seconds(1);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_STATE).bytes()).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);  // TPM Restart
  std::vector<ActData> l = cap_act(tpm);
  EXPECT_EQ(l.at(0).timeout, 0u);
  EXPECT_EQ(l.at(0).attributes, 0u);
  EXPECT_EQ(l.at(1).timeout, 0u);
  EXPECT_EQ(l.at(1).attributes, TPMA_ACT_preserveSignaled) << "signaled before the Shutdown(STATE)";
  // A non-orderly power loss: everything stopped, nothing preserved.
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 100)).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);  // TPM Reset
  for (const ActData& d : cap_act(tpm)) {
    EXPECT_EQ(d.timeout, 0u);
    EXPECT_EQ(d.attributes, 0u);
  }
}

TEST_F(Act, SetTimeoutAfterShutdownStateVoidsTheResume) {
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_STATE).bytes()).rc, 0u);
  ASSERT_EQ(run(tpm, set_timeout(kAct0, 100)).rc, 0u);
  tpm.reset();
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_STATE).bytes()).rc, TPM_RC_VALUE + 0x40 + 0x100);
}

}  // namespace
}  // namespace utpm::tpm
