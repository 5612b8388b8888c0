// Part 3 chapter 28: Context management. Only FlushContext so far; ContextSave/Load arrive
// with objects and saved sessions.
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_FlushContext(Command& c) {
  TPMI_DH_CONTEXT flush_handle;
  if (TPM_RC rc = c.parse(flush_handle)) return rc;
  if (ObjectSlot* o = object_at(c.st, flush_handle)) {
    object_flush(*o);
    return TPM_RC_SUCCESS;
  }
  if (SessionSlot* s = session_at(c.st, flush_handle)) {
    session_flush(*s);
    return TPM_RC_SUCCESS;
  }
  return rc_param(TPM_RC_HANDLE, 1);  // nothing loaded under that handle
}

}  // namespace utpm::tpm
