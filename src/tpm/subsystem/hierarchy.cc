// Hierarchies: the trailing-zero rule of authValues, whether a hierarchy is enabled, and the
// proof values that key tickets and contexts. (What a handle names: core/entity.cc.)
#include "tpm/subsystem/subsystems.h"

namespace utpm::tpm {

std::span<const uint8_t> auth_trimmed(const TPM2B_AUTH* a) {
  if (!a) return {};
  size_t n = a->size;
  while (n > 0 && a->buffer[n - 1] == 0) --n;
  return {a->buffer, n};
}

const TPMT_HA* hierarchy_policy(const State& st, TPM_HANDLE h) {
  switch (h) {
    case TPM_RH_OWNER: return &st.pers.owner_policy;
    case TPM_RH_ENDORSEMENT: return &st.pers.endorsement_policy;
    case TPM_RH_LOCKOUT: return &st.pers.lockout_policy;
    case TPM_RH_PLATFORM: return &st.platform_policy;
    default: return act_implemented(h) ? &st.act[h - TPM_RH_ACT_0].policy : nullptr;
  }
}
TPMT_HA* hierarchy_policy(State& st, TPM_HANDLE h) {
  return const_cast<TPMT_HA*>(hierarchy_policy(static_cast<const State&>(st), h));
}

std::span<const uint8_t> hierarchy_proof(const State& st, TPM_HANDLE hierarchy) {
  switch (hierarchy) {
    case TPM_RH_OWNER: return st.pers.sh_proof;
    case TPM_RH_PLATFORM: return st.pers.ph_proof;
    case TPM_RH_ENDORSEMENT: return st.pers.eh_proof;
    case TPM_RH_NULL: return st.null_proof;
    default: return {};
  }
}

bool hierarchy_enabled(const State& st, TPM_HANDLE hierarchy) {
  switch (hierarchy) {
    case TPM_RH_OWNER: return st.sh_enable;
    case TPM_RH_PLATFORM: return st.ph_enable;
    case TPM_RH_ENDORSEMENT: return st.eh_enable;
    default: return true;
  }
}

}  // namespace utpm::tpm
