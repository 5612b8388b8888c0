// All TPM state, in one struct owned by Tpm. Grouped by lifetime as Part 1 §36 describes:
// persistent (survives everything), state-clear/state-reset (volatile, saved by Shutdown(STATE)),
// and purely volatile. Serialisation to NV is explicit (see persist.h); never a raw struct dump.
#pragma once

#include <cstdint>

namespace utpm::tpm {

// Why the TPM entered failure mode. Reported by GetTestResult and printed by the daemon.
enum class FailureCause : uint8_t {
  none = 0,
  self_test,       // a known-answer self test failed
  entropy,         // the entropy source failed its health test
  nv_integrity,    // the persistent store failed authentication / rollback check
  nv_io,           // the persistent store could not be read
  nv_format,       // a persisted record has an unknown version or bad layout
  internal,        // an engine invariant was violated
};

struct State {
  bool powered = false;
  bool nv_available = true;
  struct {
    bool active = false;
    FailureCause cause = FailureCause::none;
  } failure;
};

}  // namespace utpm::tpm
