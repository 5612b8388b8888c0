// Part 3 chapter 21: Command audit (the digest itself is kept by core/audit.cc).
#include "tpm/commands/commands.h"
#include "tpm/core/audit.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/types/attest.h"

namespace utpm::tpm {

TPM_RC TPM2_SetCommandCodeAuditStatus(Command& c) {
  TPMI_ALG_HASH_NULL audit_alg;
  TPML_CC_VIEW set_list, clear_list;
  if (TPM_RC rc = c.parse(audit_alg, set_list, clear_list)) return rc;
  AuditState& a = c.st.audit;
  if (audit_alg != TPM_ALG_NULL && audit_alg != a.alg) {
    // A new hash: the lists must be empty; the digest of the old hash is dropped and this
    // command is extended into neither (the next audited command restarts the digest).
    if (set_list.count != 0 || clear_list.count != 0) return rc_param(TPM_RC_VALUE, 1);
    a.alg = audit_alg;
    c.audit_alg_changed = true;
  } else {
    // Unimplemented codes are ignored; SetCommandCodeAuditStatus stays audited. The digest is
    // kept: it records this very change (the command is always audited).
    for (uint32_t i = 0; i < set_list.count; ++i) audit_list_set(c.st, set_list.at(i), true);
    for (uint32_t i = 0; i < clear_list.count; ++i) audit_list_set(c.st, clear_list.at(i), false);
  }
  c.st.dirty |= kDirtyAudit;
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
