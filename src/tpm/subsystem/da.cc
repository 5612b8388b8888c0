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

// In lockout while failedTries has reached maxTries: with maxTries 0 always (every
// DA-protected authValue is unusable), as in the reference TPM.
bool da_in_lockout(const State& st) { return st.pers.failed_tries >= st.pers.max_tries; }

bool da_records_failure(const State& st, TPM_HANDLE entity, bool da_protected) {
  if (entity == TPM_RH_LOCKOUT) return st.pers.lockout_recovery != 0;
  return da_protected && st.pers.recovery_time != 0;
}

void da_failure(Tpm& tpm, TPM_HANDLE entity) {
  State& st = tpm.state();
  if (entity == TPM_RH_LOCKOUT) {
    // lockoutRecovery 0: blocked until the next Startup (volatile); otherwise for that many
    // seconds of powered time, kept in NV so that a power cycle does not lift it.
    st.lockout_auth_blocked = true;
    if (st.pers.lockout_recovery == 0) {
      st.lockout_auth_blocked_until = UINT64_MAX;
    } else {
      st.lockout_auth_blocked_until = tpm.platform().now_ms() + uint64_t{st.pers.lockout_recovery} * 1000;
      st.pers.lockout_auth_blocked = 1;
      st.dirty |= kDirtyPersistent;
    }
    return;
  }
  // recoveryTime 0 disables DA for everything but lockoutAuth: failures are not counted
  // (Part 1 §19.8; the reference TPM agrees).
  if (st.pers.recovery_time == 0) return;
  if (st.pers.failed_tries < st.pers.max_tries) ++st.pers.failed_tries;
  if (st.pers.failed_tries == 1) st.da_last_recovery_ms = tpm.platform().now_ms();
  st.dirty |= kDirtyPersistent;
}

bool lockout_auth_available(Tpm& tpm) {
  State& st = tpm.state();
  if (st.lockout_auth_blocked && tpm.platform().now_ms() >= st.lockout_auth_blocked_until) {
    st.lockout_auth_blocked = false;
    if (st.pers.lockout_auth_blocked) {
      st.pers.lockout_auth_blocked = 0;
      st.dirty |= kDirtyPersistent;
    }
  }
  return !st.lockout_auth_blocked;
}

void da_mark_used(State& st) {
  if (st.clock.da_used || st.pers.recovery_time == 0) return;
  st.clock.da_used = 1;
  st.dirty |= kDirtyClock;
}

void da_startup(Tpm& tpm, bool after_orderly_shutdown) {
  State& st = tpm.state();
  // A non-orderly shutdown after a DA-protected authorization may have cut a failure short of
  // being recorded: count one (Part 1 DA; the reference TPM's "daUsed" rule), unless DA is
  // disabled or failedTries is at maxTries already.
  if (!after_orderly_shutdown && st.clock.da_used && st.pers.recovery_time != 0 &&
      st.pers.failed_tries < st.pers.max_tries) {
    if (st.pers.failed_tries++ == 0) st.da_last_recovery_ms = tpm.platform().now_ms();
    st.dirty |= kDirtyPersistent;
  }
  if (st.clock.da_used) {
    st.clock.da_used = 0;
    st.dirty |= kDirtyClock;
  }
}

void da_power_on(Tpm& tpm) {
  State& st = tpm.state();
  st.da_last_recovery_ms = tpm.platform().now_ms();
  if (st.pers.lockout_auth_blocked) {
    st.lockout_auth_blocked = true;
    st.lockout_auth_blocked_until = tpm.platform().now_ms() + uint64_t{st.pers.lockout_recovery} * 1000;
  }
}

}  // namespace utpm::tpm
