// Part 3, Field Upgrade (TPM2_FieldUpgradeStart, TPM2_FieldUpgradeData, TPM2_FirmwareRead).
// utpm's firmware is replaced by the platform's own means (a new utpmd binary, a signed
// firmware image flashed by the boot loader), never through the TPM interface: no Field Upgrade
// Authorization key is provisioned and the TPM never enters Field Upgrade Mode. The commands
// exist and answer what the spec prescribes for that state (docs/engine.md "Field upgrade").
#include "tpm/commands/commands.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

// No manifest can be authorized: keyHandle is never the Field Upgrade Authorization key, so
// manifestSignature does not verify (TPM_RC_SIGNATURE, parameter 2) and FUM is not entered.
TPM_RC TPM2_FieldUpgradeStart(Command& c) {
  TPM2B_DIGEST fu_digest;
  TPMT_SIGNATURE manifest_signature;
  if (TPM_RC rc = c.parse(fu_digest, manifest_signature)) return rc;
  return rc_param(TPM_RC_SIGNATURE, 2);
}

// Outside Field Upgrade Mode FieldUpgradeData is TPM_RC_UPGRADE (Part 2: "for
// TPM2_FieldUpgradeData(), this code indicates that the TPM is not in field upgrade mode").
TPM_RC TPM2_FieldUpgradeData(Command& c) {
  TPM2B_MAX_BUFFER fu_data;
  if (TPM_RC rc = c.parse(fu_data)) return rc;
  return TPM_RC_UPGRADE;
}

// No firmware image is kept for recovery through the TPM: the sequence is empty, so block 0
// is already "all data returned" (the Empty Buffer) and any later block is out of range.
TPM_RC TPM2_FirmwareRead(Command& c) {
  uint32_t sequence_number = 0;
  if (TPM_RC rc = c.parse(sequence_number)) return rc;
  if (sequence_number != 0) return rc_param(TPM_RC_VALUE, 1);
  c.put(uint16_t{0});  // fuData: an empty TPM2B_MAX_BUFFER (its size field alone)
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
