// Dictionary-attack protection (Part 1 §19.8): failed authorizations of DA-protected entities
// count in failedTries (persistent); at maxTries the TPM is in lockout; one failure is
// forgotten per recoveryTime seconds of powered time. lockoutAuth has its own rule: one
// failure makes it unavailable for lockoutRecovery seconds (until the next reset if zero).
#include <cstdint>

#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

void da_recover(Tpm& tpm) {
  State& st = tpm.state();
  const uint64_t now = tpm.platform().now_ms();
  if (st.pers.recovery_time == 0 || st.pers.failed_tries == 0) {
    st.da_last_recovery_ms = now;
    return;
  }
  const uint64_t period = uint64_t{st.pers.recovery_time} * 1000;
  const uint64_t steps = (now - st.da_last_recovery_ms) / period;
  if (steps == 0) return;
  st.pers.failed_tries = steps >= st.pers.failed_tries ? 0 : st.pers.failed_tries - static_cast<uint32_t>(steps);
  st.da_last_recovery_ms += steps * period;
  st.dirty |= kDirtyPersistent;
}

bool da_in_lockout(const State& st) { return st.pers.failed_tries >= st.pers.max_tries; }

void da_failure(Tpm& tpm, TPM_HANDLE entity) {
  State& st = tpm.state();
  if (entity == TPM_RH_LOCKOUT) {
    st.lockout_auth_blocked = true;
    st.lockout_auth_blocked_until = st.pers.lockout_recovery == 0
                                        ? UINT64_MAX
                                        : tpm.platform().now_ms() + uint64_t{st.pers.lockout_recovery} * 1000;
    return;
  }
  if (st.pers.failed_tries < st.pers.max_tries) ++st.pers.failed_tries;
  if (st.pers.failed_tries == 1) st.da_last_recovery_ms = tpm.platform().now_ms();
  st.dirty |= kDirtyPersistent;
}

bool lockout_auth_available(Tpm& tpm) {
  State& st = tpm.state();
  if (st.lockout_auth_blocked && tpm.platform().now_ms() >= st.lockout_auth_blocked_until)
    st.lockout_auth_blocked = false;
  return !st.lockout_auth_blocked;
}

}  // namespace utpm::tpm
