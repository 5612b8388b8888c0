// Power transitions and _TPM_Init (Part 1 §12.2). Startup/Shutdown semantics live in
// commands/startup.cc; this file only brings the engine to "awaiting Startup".
#include "tpm/tpm.h"

#include <memory>

#include "crypto/crypto.h"
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

Tpm::Tpm(Platform& platform) : platform_(platform) {}

void enter_failure(State& st, FailureCause cause) {
  if (st.failure.active) return;  // keep the first cause: it is the root
  st.failure.active = true;
  st.failure.cause = cause;
}

const char* failure_cause_name(FailureCause c) {
  switch (c) {
    case FailureCause::none: return "none";
    case FailureCause::self_test: return "self test failed";
    case FailureCause::entropy: return "entropy source failed";
    case FailureCause::nv_integrity: return "persistent store failed its integrity/rollback check";
    case FailureCause::nv_io: return "persistent store could not be read or written";
    case FailureCause::nv_format: return "persistent record has an unknown format";
    case FailureCause::internal: return "internal error";
  }
  return "unknown";
}

bool run_self_tests(State& st);  // commands/testing.cc

void Tpm::power_on() {
  if (st_.powered) return;
  const bool nv_available = st_.nv_available;
  std::construct_at(&st_);  // in place: a State temporary would cost kilobytes of MCU stack
  st_.nv_available = nv_available;
  st_.powered = true;
  clock_rate_reset(*this);
  st_.timer_at_power_on = tpm_ms(*this);
  st_.phase = Phase::awaiting_startup;

  if (!run_self_tests(st_)) return;
  if (!drbg_seed_from_platform(*this)) return;
  switch (persist_load_all(*this)) {
    case LoadResult::loaded:
      break;
    case LoadResult::absent:
      persist_manufacture(*this);
      break;
    case LoadResult::failed:
      return;  // failure mode entered with the loader's cause
  }
  da_power_on(*this);
  st_.clock_at_base = st_.clock.clock;
  st_.timer_at_clock_base = tpm_ms(*this);
  // Without an orderly shutdown the last Clock written to NV may be older than a value
  // already reported: Clock is not "safe" until it is written again (Part 1 §36.4).
  st_.clock_safe = st_.clock.orderly == kOrderlyNone ? 0 : 1;
}

void Tpm::power_off() {
  if (!st_.powered) return;
  const bool nv_available = st_.nv_available;
  crypto::zeroize(st_);  // seeds, proofs, auth values and DRBG state must not linger in RAM
  std::construct_at(&st_);
  st_.nv_available = nv_available;
}

}  // namespace utpm::tpm
