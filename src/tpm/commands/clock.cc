// Part 3 chapter 29: Clocks and timers.
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_ReadClock(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  TPMS_TIME_INFO t;
  t.time = time_now(c.tpm);
  t.clockInfo = clock_info(c.tpm);
  c.put(t);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ClockSet(Command& c) {
  uint64_t new_time = 0;
  if (TPM_RC rc = c.parse(new_time)) return rc;
  // Clock may only move forward, and not into the range reserved for rollover (Part 3 §29.2).
  constexpr uint64_t kMaxClock = 0xFFFF000000000000ull;
  if (new_time > kMaxClock || new_time < clock_now(c.tpm)) return rc_param(TPM_RC_VALUE, 1);
  clock_set(c.tpm, new_time);
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_ClockRateAdjust(Command& c) {
  TPM_CLOCK_ADJUST adjust;
  if (TPM_RC rc = c.parse(adjust)) return rc;
  // Clock and Time advance at the adjusted rate from now on (clock.cc); the rate is volatile
  // (nominal after _TPM_Init, as the reference platform). The last request is also recorded.
  clock_rate_adjust(c.tpm, static_cast<int8_t>(adjust.value));
  c.st.clock.clock_adjust = adjust;
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
