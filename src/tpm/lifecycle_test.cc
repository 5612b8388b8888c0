// The Startup/Shutdown state machine (Part 1 §12.2): Reset, Restart and Resume, orderly and
// non-orderly shutdowns, and what survives each.
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

std::vector<uint8_t> startup(TPM_SU su) { return CommandBuilder(0x8001, TPM_CC_Startup).u16(su).bytes(); }
std::vector<uint8_t> shutdown(TPM_SU su) { return CommandBuilder(0x8001, TPM_CC_Shutdown).u16(su).bytes(); }

std::vector<uint8_t> extend(uint32_t pcr, uint8_t fill) {
  std::vector<uint8_t> d(32, fill);
  return CommandBuilder(0x8002, TPM_CC_PCR_Extend).u32(pcr).pw_session().u32(1).u16(TPM_ALG_SHA256).raw(d).bytes();
}

// SHA-256 bank value of one PCR via PCR_Read.
std::vector<uint8_t> read_pcr(Tpm& tpm, uint32_t pcr) {
  uint8_t sel[3] = {0, 0, 0};
  sel[pcr / 8] = uint8_t(1 << (pcr % 8));
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_PCR_Read).u32(1).u16(TPM_ALG_SHA256).u8(3).raw(sel).bytes());
  EXPECT_EQ(r.rc, 0u);
  r.u32();               // update counter
  EXPECT_EQ(r.u32(), 1u);  // one selection back
  r.take(2 + 1 + 3);
  EXPECT_EQ(r.u32(), 1u);  // one digest
  return r.tpm2b();
}

struct ClockInfo {
  uint64_t time, clock;
  uint32_t reset, restart;
  uint8_t safe;
};
ClockInfo read_clock(Tpm& tpm) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_ReadClock).bytes());
  EXPECT_EQ(r.rc, 0u);
  ClockInfo c;
  c.time = r.u64();
  c.clock = r.u64();
  c.reset = r.u32();
  c.restart = r.u32();
  c.safe = r.u8();
  return c;
}

std::vector<uint8_t> sha256_extend(std::vector<uint8_t> pcr, uint8_t fill) {
  std::vector<uint8_t> in = pcr;
  in.insert(in.end(), 32, fill);
  std::vector<uint8_t> out(32);
  unsigned n = 0;
  EVP_Digest(in.data(), in.size(), out.data(), &n, EVP_sha256(), nullptr);
  return out;
}

class Lifecycle : public ::testing::Test {
 protected:
  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(Lifecycle, EverythingButStartupIsInitializeBeforeStartup) {
  tpm.power_on();
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_GetRandom).u16(8).bytes()).rc, TPM_RC_INITIALIZE);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_GetCapability).u32(6).u32(0x100).u32(1).bytes()).rc,
            TPM_RC_INITIALIZE);
  EXPECT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, TPM_RC_SUCCESS);
  EXPECT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, TPM_RC_INITIALIZE) << "a second Startup";
}

TEST_F(Lifecycle, StartupRejectsBadType) {
  tpm.power_on();
  EXPECT_EQ(run(tpm, startup(7)).rc, rc_param(TPM_RC_VALUE, 1));
}

TEST_F(Lifecycle, ResumeWithoutShutdownStateIsValue) {
  tpm.power_on();
  EXPECT_EQ(run(tpm, startup(TPM_SU_STATE)).rc, rc_param(TPM_RC_VALUE, 1));
  EXPECT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, TPM_RC_SUCCESS) << "CLEAR still works after a failed resume";
  ASSERT_EQ(run(tpm, shutdown(TPM_SU_CLEAR)).rc, TPM_RC_SUCCESS);
  tpm.reset();
  EXPECT_EQ(run(tpm, startup(TPM_SU_STATE)).rc, rc_param(TPM_RC_VALUE, 1)) << "after Shutdown(CLEAR)";
}

TEST_F(Lifecycle, ResumeKeepsStaticPcrsAndResetsTheOthers) {
  testing::start(tpm);
  ASSERT_EQ(run(tpm, extend(1, 0xAA)).rc, 0u);
  ASSERT_EQ(run(tpm, extend(16, 0xBB)).rc, 0u);
  auto pcr1 = read_pcr(tpm, 1);
  EXPECT_EQ(pcr1, sha256_extend(std::vector<uint8_t>(32, 0), 0xAA));
  ClockInfo before = read_clock(tpm);
  ASSERT_EQ(run(tpm, shutdown(TPM_SU_STATE)).rc, 0u);
  tpm.power_off();
  platform.now += 5000;
  tpm.power_on();
  ASSERT_EQ(run(tpm, startup(TPM_SU_STATE)).rc, TPM_RC_SUCCESS);
  EXPECT_EQ(read_pcr(tpm, 1), pcr1) << "PCR 1 is saved by Shutdown(STATE)";
  EXPECT_EQ(read_pcr(tpm, 16), std::vector<uint8_t>(32, 0)) << "PCR 16 is not";
  EXPECT_EQ(read_pcr(tpm, 17), std::vector<uint8_t>(32, 0xFF)) << "D-RTM PCRs start at all ones";
  ClockInfo after = read_clock(tpm);
  EXPECT_EQ(after.reset, before.reset);
  EXPECT_EQ(after.restart, before.restart + 1);
  EXPECT_EQ(after.safe, 1);
  EXPECT_GE(after.clock, before.clock) << "Clock never goes back across an orderly cycle";
  EXPECT_LT(after.time, before.time + 5000) << "Time restarts at _TPM_Init";
}

TEST_F(Lifecycle, ResetClearsPcrsAndCountsResets) {
  testing::start(tpm);
  ClockInfo first = read_clock(tpm);
  ASSERT_EQ(run(tpm, extend(1, 0xAA)).rc, 0u);
  ASSERT_EQ(run(tpm, shutdown(TPM_SU_CLEAR)).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, 0u);
  EXPECT_EQ(read_pcr(tpm, 1), std::vector<uint8_t>(32, 0));
  ClockInfo second = read_clock(tpm);
  EXPECT_EQ(second.reset, first.reset + 1);
  EXPECT_EQ(second.restart, 0u);
}

TEST_F(Lifecycle, RestartClearsPcrsButKeepsTheResetEpoch) {
  testing::start(tpm);
  ClockInfo first = read_clock(tpm);
  ASSERT_EQ(run(tpm, extend(2, 0x11)).rc, 0u);
  ASSERT_EQ(run(tpm, shutdown(TPM_SU_STATE)).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, 0u);  // TPM Restart
  EXPECT_EQ(read_pcr(tpm, 2), std::vector<uint8_t>(32, 0));
  ClockInfo second = read_clock(tpm);
  EXPECT_EQ(second.reset, first.reset);
  EXPECT_EQ(second.restart, first.restart + 1);
}

TEST_F(Lifecycle, NonOrderlyShutdownMakesClockUnsafe) {
  testing::start(tpm);
  EXPECT_EQ(read_clock(tpm).safe, 1);
  tpm.power_off();  // no Shutdown
  tpm.power_on();
  ASSERT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, 0u);
  EXPECT_EQ(read_clock(tpm).safe, 0);
  EXPECT_EQ(run(tpm, startup(TPM_SU_STATE)).rc, TPM_RC_INITIALIZE);
}

TEST_F(Lifecycle, StateChangeAfterShutdownStateInvalidatesResume) {
  testing::start(tpm);
  ASSERT_EQ(run(tpm, shutdown(TPM_SU_STATE)).rc, 0u);
  EXPECT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_GetRandom).u16(8).bytes()).rc, 0u) << "reads are fine";
  ASSERT_EQ(run(tpm, extend(3, 0x22)).rc, 0u);
  tpm.reset();
  EXPECT_EQ(run(tpm, startup(TPM_SU_STATE)).rc, rc_param(TPM_RC_VALUE, 1));
}

TEST_F(Lifecycle, PersistentStateSurvivesPowerAndSeedsAreStable) {
  testing::start(tpm);
  auto seeds = platform.store.committed.at(1);
  tpm.power_off();
  tpm.power_on();
  EXPECT_EQ(platform.store.committed.at(1).size(), seeds.size());
  ASSERT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, 0u);
  // Same seeds: the persistent record's seed area is unchanged by a reset.
  EXPECT_TRUE(std::equal(seeds.begin(), seeds.begin() + 4 + 3 * 32, platform.store.committed.at(1).begin()));
}

TEST_F(Lifecycle, EntropyFailureIsFailureMode) {
  platform.entropy_ok = false;
  tpm.power_on();
  EXPECT_TRUE(tpm.in_failure_mode());
  EXPECT_EQ(tpm.failure_cause(), FailureCause::entropy);
}

}  // namespace
}  // namespace utpm::tpm

namespace utpm::tpm {
namespace {

// EC_Ephemeral's counter (the commitCounter's low 16 bits).
uint16_t ephemeral_counter(Tpm& tpm) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_EC_Ephemeral).u16(TPM_ECC_NIST_P256).bytes());
  EXPECT_EQ(r.rc, 0u);
  std::vector<uint8_t> q = r.tpm2b();
  EXPECT_EQ(q.size(), 4u + 64u);  // TPMS_ECC_POINT of two 32-octet coordinates
  return r.u16();
}

// commitCounter goes on over TPM Restart and Resume (Shutdown writes it) and starts over at a
// TPM Reset, as the reference TPM keeps it (state-reset data).
TEST_F(Lifecycle, CommitCounterSurvivesRestartAndResumeNotReset) {
  testing::start(tpm);
  EXPECT_EQ(ephemeral_counter(tpm), 0);
  EXPECT_EQ(ephemeral_counter(tpm), 1);
  ASSERT_EQ(run(tpm, shutdown(TPM_SU_STATE)).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, 0u);  // TPM Restart
  EXPECT_EQ(ephemeral_counter(tpm), 2);
  ASSERT_EQ(run(tpm, shutdown(TPM_SU_STATE)).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, startup(TPM_SU_STATE)).rc, 0u);  // TPM Resume
  EXPECT_EQ(ephemeral_counter(tpm), 3);
  tpm.reset();  // no Shutdown: the next Startup is a TPM Reset
  ASSERT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, 0u);
  EXPECT_EQ(ephemeral_counter(tpm), 0);
  ASSERT_EQ(run(tpm, shutdown(TPM_SU_CLEAR)).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, startup(TPM_SU_CLEAR)).rc, 0u);  // TPM Reset after an orderly CLEAR shutdown
  EXPECT_EQ(ephemeral_counter(tpm), 0);
}

}  // namespace
}  // namespace utpm::tpm
