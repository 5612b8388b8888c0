// Clock and Time (Part 1 §36). Clock runs while powered and persists across power cycles;
// it is written to NV when it crosses a kClockUpdateIntervalMs boundary and exactly at an
// orderly Shutdown. Time counts from _TPM_Init.
#include "tpm/platform.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

uint64_t tpm_ms(Tpm& tpm) {
  const State& st = tpm.state();
  return st.rate_base_ms + (tpm.platform().now_ms() - st.rate_base_platform) * profile::kClockNominal / st.clock_rate;
}

void clock_rate_reset(Tpm& tpm) {
  State& st = tpm.state();
  st.rate_base_platform = st.rate_base_ms = tpm.platform().now_ms();
  st.clock_rate = profile::kClockNominal;
}

void clock_rate_adjust(Tpm& tpm, int8_t adjust) {
  State& st = tpm.state();
  st.rate_base_ms = tpm_ms(tpm);  // what has elapsed so far keeps the old rate
  st.rate_base_platform = tpm.platform().now_ms();
  const uint32_t magnitude = adjust < 0 ? static_cast<uint32_t>(-adjust) : static_cast<uint32_t>(adjust);
  const uint32_t step = magnitude == 3 ? profile::kClockAdjustCoarse
                        : magnitude == 2 ? profile::kClockAdjustMedium
                        : magnitude == 1 ? profile::kClockAdjustFine
                                         : 0;
  // Faster: fewer platform ms per TPM ms (a smaller rate). Clamped to the limit.
  constexpr uint32_t lo = profile::kClockNominal - profile::kClockAdjustLimit;
  constexpr uint32_t hi = profile::kClockNominal + profile::kClockAdjustLimit;
  if (adjust > 0) st.clock_rate = st.clock_rate - step < lo ? lo : st.clock_rate - step;
  if (adjust < 0) st.clock_rate = st.clock_rate + step > hi ? hi : st.clock_rate + step;
}

uint64_t clock_now(Tpm& tpm) {
  State& st = tpm.state();
  return st.clock_at_base + (tpm_ms(tpm) - st.timer_at_clock_base);
}

uint64_t time_now(Tpm& tpm) { return tpm_ms(tpm) - tpm.state().timer_at_power_on; }

void clock_set(Tpm& tpm, uint64_t new_clock) {
  State& st = tpm.state();
  st.clock_at_base = new_clock;
  st.timer_at_clock_base = tpm_ms(tpm);
  st.clock.clock = new_clock;
  st.dirty |= kDirtyClock;
}

void clock_periodic_update(Tpm& tpm) {
  State& st = tpm.state();
  if (st.phase != Phase::operational) return;
  constexpr uint64_t mask = profile::kClockUpdateIntervalMs - 1;
  uint64_t now = clock_now(tpm);
  if ((now | mask) > (st.clock.clock | mask)) {
    st.clock.clock = now;
    st.clock_safe = 1;  // NV now holds a value no smaller than anything reported
    st.dirty |= kDirtyClock;
  }
}

TPMS_CLOCK_INFO clock_info(Tpm& tpm) {
  State& st = tpm.state();
  TPMS_CLOCK_INFO ci;
  ci.clock = clock_now(tpm);
  ci.resetCount = st.clock.reset_count;
  ci.restartCount = st.clock.restart_count;
  ci.safe = st.clock_safe;
  return ci;
}

}  // namespace utpm::tpm
