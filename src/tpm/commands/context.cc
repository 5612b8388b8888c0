// Part 3 chapter 28: Context management. Only FlushContext so far; ContextSave/Load arrive
// with objects and sessions.
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_FlushContext(Command& c) {
  TPMI_DH_CONTEXT flush_handle;
  if (TPM_RC rc = c.parse(flush_handle)) return rc;
  ObjectSlot* s = object_at(c.st, flush_handle);
  if (!s) return rc_param(TPM_RC_HANDLE, 1);  // nothing loaded under that handle
  object_flush(*s);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
