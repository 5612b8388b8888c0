// Part 3 chapter 12: Object commands.
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_ReadPublic(Command& c) {
  if (TPM_RC rc = c.parse()) return rc;
  ObjectSlot* o = object_at(c.st, c.handles[0]);
  if (o->kind != SlotKind::object) return rc_handle(TPM_RC_SEQUENCE, 1);  // sequences have no public area
  c.put(Sized<TPMT_PUBLIC>{0, o->pub});
  c.put(o->name);
  c.put(o->qualified_name);
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
