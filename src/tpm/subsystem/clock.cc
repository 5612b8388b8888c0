// Clock and Time (Part 1 §36). Clock runs while powered and persists across power cycles;
// it is written to NV when it crosses a kClockUpdateIntervalMs boundary and exactly at an
// orderly Shutdown. Time counts from _TPM_Init.
#include "tpm/platform.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

uint64_t clock_now(Tpm& tpm) {
  State& st = tpm.state();
  return st.clock_at_base + (tpm.platform().now_ms() - st.timer_at_clock_base);
}

uint64_t time_now(Tpm& tpm) { return tpm.platform().now_ms() - tpm.state().timer_at_power_on; }

void clock_set(Tpm& tpm, uint64_t new_clock) {
  State& st = tpm.state();
  st.clock_at_base = new_clock;
  st.timer_at_clock_base = tpm.platform().now_ms();
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
