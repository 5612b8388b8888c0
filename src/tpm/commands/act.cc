// Part 3 chapter 33: Authenticated Countdown Timer. The ACTs themselves are subsystem/act.cc.
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

// actHandle (TPMI_RH_ACT, USER role: platformAuth or the ACT's policy). startTimeout = 0 stops
// the ACT (a running one signals), UINT32_MAX holds it without countdown and is only allowed to
// silence an ACT that signaled (else TPM_RC_VALUE+P1), any other value restarts the countdown
// and turns the signal off. The update takes effect at once: no TPM_RC_RETRY here.
TPM_RC TPM2_ACT_SetTimeout(Command& c) {
  uint32_t start_timeout = 0;
  if (TPM_RC rc = c.parse(start_timeout)) return rc;
  const unsigned i = c.handles[0] - TPM_RH_ACT_0;
  if (start_timeout == 0xFFFFFFFF && !act_signaled(c.tpm, i)) return rc_param(TPM_RC_VALUE, 1);
  act_set(c.tpm, i, start_timeout);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
