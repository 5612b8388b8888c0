// Part 3 chapter 25: Dictionary attack functions.
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_DictionaryAttackLockReset(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  c.st.pers.failed_tries = 0;
  c.st.dirty |= kDirtyPersistent;
  return TPM_RC_SUCCESS;
}

TPM_RC TPM2_DictionaryAttackParameters(Command& c) {
  uint32_t new_max_tries = 0, new_recovery_time = 0, lockout_recovery = 0;
  if (TPM_RC rc = c.parse(new_max_tries, new_recovery_time, lockout_recovery)) return rc;
  PersistentData& p = c.st.pers;
  p.max_tries = new_max_tries;
  p.recovery_time = new_recovery_time;
  p.lockout_recovery = lockout_recovery;
  if (p.failed_tries > p.max_tries) p.failed_tries = p.max_tries;
  c.st.da_last_recovery_ms = c.platform.now_ms();
  c.st.dirty |= kDirtyPersistent;
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
