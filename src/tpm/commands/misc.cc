// Part 3, Miscellaneous Management Functions: TPM2_SetAlgorithmSet.
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/types/attest.h"
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

namespace {

// A command PP_Commands may gate: an implemented command with a handle of type
// TPMI_RH_PLATFORM, TPMI_RH_PROVISION, TPMI_RH_CLEAR or TPMI_RH_HIERARCHY(+) that is
// authorized (Part 3 §26.2); the others in either list are discarded.
bool pp_gateable(TPM_CC code) {
  const CommandInfo* info = find_command(code);
  if (!info || code - kAuditCcFirst >= 8 * sizeof(PersistentData::pp_commands)) return false;
  for (unsigned i = 0; i < info->handle_count; ++i) {
    if (info->auth[i] == AuthRole::none) continue;
    switch (info->handles[i]) {
      case HandleKind::platform: case HandleKind::provision: case HandleKind::clear:
      case HandleKind::hierarchy: case HandleKind::hierarchy_or_null:
        return true;
      default: break;
    }
  }
  return false;
}

}  // namespace

bool pp_required(const State& st, TPM_CC code) {
  if (code == TPM_CC_PP_Commands) return true;
  const uint32_t bit = code - kAuditCcFirst;
  return bit < 8 * sizeof st.pers.pp_commands && (st.pers.pp_commands[bit / 8] >> (bit % 8) & 1);
}

// Part 3 §26.2. authHandle is TPM_RH_PLATFORM with physical presence asserted (authorize()
// checks it: PP_Commands always needs it). setList is applied, then clearList, so a code in
// both ends up not needing physical presence. Codes that are not implemented or not gateable
// are ignored; PP_Commands stays. The list is persistent (record v5).
TPM_RC TPM2_PP_Commands(Command& c) {
  TPML_CC_VIEW set_list, clear_list;
  if (TPM_RC rc = c.parse(set_list, clear_list)) return rc;
  uint8_t* bits = c.st.pers.pp_commands;
  auto apply = [&](const TPML_CC_VIEW& l, bool on) {
    for (uint32_t i = 0; i < l.count; ++i) {
      const TPM_CC code = l.at(i);
      if (code == TPM_CC_PP_Commands || !pp_gateable(code)) continue;
      const uint32_t bit = code - kAuditCcFirst;
      const uint8_t mask = uint8_t(1u << (bit % 8));
      bits[bit / 8] = on ? bits[bit / 8] | mask : bits[bit / 8] & ~mask;
    }
  };
  apply(set_list, true);
  apply(clear_list, false);
  c.st.dirty |= kDirtyPersistent;
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
