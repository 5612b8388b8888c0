// Part 3, Vendor Specific: TPM2_Vendor_TCG_Test (TPM_CC_Vendor_TCG_Test = CC_VEND + 0), the
// command the spec defines to test the dispatch of vendor commands: it returns its input.
#include "tpm/commands/commands.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_Vendor_TCG_Test(Command& c) {
  TPM2B_DATA input_data;
  if (TPM_RC rc = c.parse(input_data)) return rc;
  c.put(input_data);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
