// ClockRateAdjust applied (Part 3 §29.3): Clock and Time advance at the adjusted rate, in steps,
// within the limit, and the rate is nominal again after _TPM_Init. Against a fake timer; the
// expected values are the formula ms_tpm = ms_platform * 30000 / rate written out here.
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

struct Times {
  uint64_t time, clock;
};
Times read_clock(Tpm& tpm) {
  Response r = run(tpm, CommandBuilder(0x8001, TPM_CC_ReadClock).bytes());
  EXPECT_EQ(r.rc, 0u);
  Times t;
  t.time = r.u64();
  t.clock = r.u64();
  return t;
}
uint32_t adjust(Tpm& tpm, int8_t a) {
  return run(tpm, CommandBuilder(0x8002, TPM_CC_ClockRateAdjust)
                      .u32(TPM_RH_OWNER)
                      .pw_session()
                      .u8(static_cast<uint8_t>(a))
                      .bytes())
      .rc;
}

class ClockRate : public ::testing::Test {
 protected:
  void SetUp() override { testing::start(tpm); }
  FakePlatform platform;
  Tpm tpm{platform};
};

TEST_F(ClockRate, NominalWithoutAdjustment) {
  Times a = read_clock(tpm);
  platform.now += 60000;
  Times b = read_clock(tpm);
  EXPECT_EQ(b.clock - a.clock, 60000u);
  EXPECT_EQ(b.time - a.time, 60000u);
}

TEST_F(ClockRate, CoarseFasterAndSlower) {
  ASSERT_EQ(adjust(tpm, 3), 0u);  // TPM_CLOCK_COARSE_FASTER: rate 30000 - 300
  Times a = read_clock(tpm);
  platform.now += 297000;
  Times b = read_clock(tpm);
  EXPECT_EQ(b.clock - a.clock, uint64_t{297000} * 30000 / 29700);  // 300000: 1% faster
  EXPECT_EQ(b.time - a.time, 300000u);
  ASSERT_EQ(adjust(tpm, -3), 0u);  // back to nominal
  ASSERT_EQ(adjust(tpm, -2), 0u);  // TPM_CLOCK_MEDIUM_SLOWER: 30030
  a = read_clock(tpm);
  platform.now += 300300;
  b = read_clock(tpm);
  EXPECT_EQ(b.clock - a.clock, 300000u);
  ASSERT_EQ(adjust(tpm, 1), 0u);  // TPM_CLOCK_FINE_FASTER: 30029
  a = read_clock(tpm);
  platform.now += 30029;
  b = read_clock(tpm);
  EXPECT_EQ(b.clock - a.clock, 30000u);
  EXPECT_EQ(adjust(tpm, 4), TPM_RC_VALUE + 0x40 + 0x100) << "TPM_CLOCK_ADJUST is -3..3";
}

TEST_F(ClockRate, ClampedAtTheLimitAndNominalAfterInit) {
  for (int i = 0; i < 40; ++i) ASSERT_EQ(adjust(tpm, 3), 0u);  // 40 coarse steps: clamped at 25000
  Times a = read_clock(tpm);
  platform.now += 25000;
  Times b = read_clock(tpm);
  EXPECT_EQ(b.clock - a.clock, 30000u);
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Shutdown).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  tpm.reset();
  ASSERT_EQ(run(tpm, CommandBuilder(0x8001, TPM_CC_Startup).u16(TPM_SU_CLEAR).bytes()).rc, 0u);
  a = read_clock(tpm);
  platform.now += 10000;
  b = read_clock(tpm);
  EXPECT_EQ(b.clock - a.clock, 10000u);
}

}  // namespace
}  // namespace utpm::tpm
