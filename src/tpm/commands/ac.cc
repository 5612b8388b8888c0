// Part 3 chapter 32: Attached Components. No component is attached to this TPM, so no
// TPMI_RH_AC handle (TPM_HT_AC, 0x90xxxxxx) names anything: AC_GetCapability and AC_Send are
// refused in the handle area (TPM_RC_HANDLE with the handle's number, core/execute.cc) and their
// handlers are never reached with a valid handle. Policy_AC_SendSelect needs no component: it
// only records, in a policy session, which AC_Send it approves (docs/engine.md).
#include "crypto/crypto.h"
#include "tpm/commands/commands.h"
#include "tpm/subsystem/subsystems.h"
#include "tpm/tpm.h"

namespace utpm::tpm {

TPM_RC TPM2_AC_GetCapability(Command& c) {
  uint32_t capability = 0, count = 0;  // TPM_AT, UINT32
  if (TPM_RC rc = c.parse(capability, count)) return rc;
  return rc_handle(TPM_RC_HANDLE, 1);  // unreachable: the dispatcher refused the ac handle
}

TPM_RC TPM2_AC_Send(Command& c) {
  TPM2B_MAX_BUFFER ac_data_in;
  if (TPM_RC rc = c.parse(ac_data_in)) return rc;
  return rc_handle(TPM_RC_HANDLE, 3);  // unreachable: the dispatcher refused the ac handle
}

// policySession->nameHash := H(objectName || authHandleName || acName);
// policyDigest := H(policyDigest || TPM_CC_Policy_AC_SendSelect || [objectName] ||
//                   authHandleName || acName || includeObject); commandCode := TPM_CC_AC_Send.
TPM_RC TPM2_Policy_AC_SendSelect(Command& c) {
  TPM2B_NAME object_name, auth_handle_name, ac_name;
  TPMI_YES_NO_CHECKED include_object;
  if (TPM_RC rc = c.parse(object_name, auth_handle_name, ac_name, include_object)) return rc;
  SessionSlot& s = *c.entities[0].session;
  if (s.cp_hash_kind != kPolicyCpNone) return TPM_RC_CPHASH;
  if (s.command_code != 0) return TPM_RC_COMMAND_CODE;
  const crypto::HashAlg alg = to_crypto(s.auth_hash);
  crypto::HashState h;
  crypto::hash_start(h, alg);
  crypto::hash_update(h, object_name.view());
  crypto::hash_update(h, auth_handle_name.view());
  crypto::hash_update(h, ac_name.view());
  s.cp_hash.size = static_cast<uint16_t>(crypto::hash_finish(h, s.cp_hash.buffer));
  s.cp_hash_kind = kPolicyNameHash;

  const uint8_t cc[4] = {0, 0, TPM_CC_Policy_AC_SendSelect >> 8, TPM_CC_Policy_AC_SendSelect & 0xFF};
  const uint8_t include = include_object.value;
  crypto::hash_start(h, alg);
  crypto::hash_update(h, s.policy_digest.view());
  crypto::hash_update(h, cc);
  if (include) crypto::hash_update(h, object_name.view());
  crypto::hash_update(h, auth_handle_name.view());
  crypto::hash_update(h, ac_name.view());
  crypto::hash_update(h, {&include, 1});
  s.policy_digest.size = static_cast<uint16_t>(crypto::hash_finish(h, s.policy_digest.buffer));
  s.command_code = TPM_CC_AC_Send;
  return TPM_RC_SUCCESS;
}

}  // namespace utpm::tpm
