// Part 3, Miscellaneous Management Functions: TPM2_SetAlgorithmSet.
#include "tpm/commands/commands.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

// algorithmSet is vendor-defined; this TPM has one algorithm set (the profile's), so the value
// is recorded (persistent record, reported as TPM_PT_ALGORITHM_SET) and changes no algorithm
// and no PCR bank. docs/engine.md "Platform housekeeping".
TPM_RC TPM2_SetAlgorithmSet(Command& c) {
  uint32_t algorithm_set = 0;
  if (TPM_RC rc = c.parse(algorithm_set)) return rc;
  if (c.st.pers.algorithm_set != algorithm_set) {
    c.st.pers.algorithm_set = algorithm_set;
    c.st.dirty |= kDirtyPersistent;
  }
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
