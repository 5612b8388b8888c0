// TPM 2.0 Part 2 declarations the engine writes by hand or takes as plain integers, declared
// here so that tools describe them from the same kind of declaration as every other type:
// TPMS_CAPABILITY_DATA with its lists (GetCapability pages them by hand, capability.cc),
// TPM2B_CREATION_DATA, TPM2B_SENSITIVE (optional in LoadExternal), and interface types the
// handlers check themselves (TPMI_DH_PERSISTENT, TPMI_RH_ENABLES). Names are the specification's.
// Nothing here is instantiated by the engine unless a handler uses it.
#pragma once

#include <cstdint>

#include "tpm/marshal/marshal.h"
#include "tpm/profile.h"
#include "tpm/types/constants.h"
#include "tpm/types/object.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

// ---- interface types a handler checks itself ----
struct PersistentHandleTraits {
  using type = TPM_HANDLE;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return handle_type(v) == TPM_HT_PERSISTENT; }
};
using TPMI_DH_PERSISTENT = Tpmi<PersistentHandleTraits>;
struct EnablesTraits {
  using type = TPM_HANDLE;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) {
    return v == TPM_RH_OWNER || v == TPM_RH_ENDORSEMENT || v == TPM_RH_PLATFORM || v == TPM_RH_PLATFORM_NV;
  }
};
using TPMI_RH_ENABLES = Tpmi<EnablesTraits>;
// A TPM_CC / TPMA_LOCALITY / TPM_CAP / TPM_RC as a parameter (any value on the wire).
template <class T>
struct AnyTraits {
  using type = T;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type) { return true; }
};
struct CcTraits : AnyTraits<TPM_CC> {};
struct LocalityTraits : AnyTraits<uint8_t> {};
struct CapTraits : AnyTraits<TPM_CAP> {};
struct RcTraits : AnyTraits<TPM_RC> {};
struct PtTraits : AnyTraits<uint32_t> {};
using TPM_CC_ANY = Tpmi<CcTraits>;
using TPMA_LOCALITY = Tpmi<LocalityTraits>;
using TPM_CAP_ANY = Tpmi<CapTraits>;
using TPM_RC_ANY = Tpmi<RcTraits>;
using TPM_PT_ANY = Tpmi<PtTraits>;
struct HandleAnyTraits : AnyTraits<TPM_HANDLE> {};
struct AlgAnyTraits : AnyTraits<TPM_ALG_ID> {};
struct CurveAnyTraits : AnyTraits<TPM_ECC_CURVE> {};
using TPM_HANDLE_ANY = Tpmi<HandleAnyTraits>;
using TPM_ALG_ID_ANY = Tpmi<AlgAnyTraits>;
using TPM_ECC_CURVE_ANY = Tpmi<CurveAnyTraits>;

// ---- sized structures ----
using TPM2B_CREATION_DATA = Sized<TPMS_CREATION_DATA>;
using TPM2B_SENSITIVE = Sized<TPMT_SENSITIVE, true>;
using TPM2B_TEMPLATE = TPM2B_PUBLIC;  // holding a TPMT_PUBLIC (the only form implemented)

// ---- capability data (Part 2 §10.10, §10.9) ----
inline constexpr size_t kCapDataBytes = profile::kMaxCapBuffer - 4 - 4;
struct TPMS_ALG_PROPERTY {
  TPM_ALG_ID_ANY alg;
  uint32_t algProperties = 0;  // TPMA_ALGORITHM
  UTPM_FIELDS(alg, algProperties)
};
struct TPMS_TAGGED_PROPERTY {
  TPM_PT_ANY property;
  uint32_t value = 0;
  UTPM_FIELDS(property, value)
};
struct TPMS_TAGGED_PCR_SELECT {
  uint32_t tag = 0;  // TPM_PT_PCR
  uint8_t sizeofSelect = 0;
  uint8_t pcrSelect[profile::kPcrSelectMax]{};
  UTPM_FIELDS(tag, counted(sizeofSelect, pcrSelect, 0))
};
struct TPMS_TAGGED_POLICY {
  TPM_HANDLE_ANY handle;
  TPMT_HA policyHash;
  UTPM_FIELDS(handle, policyHash)
};
struct TPMS_ACT_DATA {
  TPM_HANDLE_ANY handle;
  uint32_t timeout = 0;
  uint32_t attributes = 0;  // TPMA_ACT
  UTPM_FIELDS(handle, timeout, attributes)
};
using TPML_ALG_PROPERTY = Tpml<TPMS_ALG_PROPERTY, kCapDataBytes / 6>;
using TPML_HANDLE = Tpml<TPM_HANDLE_ANY, kCapDataBytes / 4>;
using TPML_CCA = Tpml<uint32_t, kCapDataBytes / 4>;  // TPMA_CC
using TPML_CC = Tpml<TPM_CC_ANY, kCapDataBytes / 4>;
using TPML_TAGGED_TPM_PROPERTY = Tpml<TPMS_TAGGED_PROPERTY, kCapDataBytes / 8>;
using TPML_TAGGED_PCR_PROPERTY = Tpml<TPMS_TAGGED_PCR_SELECT, kCapDataBytes / (4 + 1 + profile::kPcrSelectMax)>;
using TPML_ECC_CURVE = Tpml<TPM_ECC_CURVE_ANY, kCapDataBytes / 2>;
using TPML_TAGGED_POLICY = Tpml<TPMS_TAGGED_POLICY, kCapDataBytes / (4 + 2 + profile::kMaxDigestSize)>;
using TPML_ACT_DATA = Tpml<TPMS_ACT_DATA, kCapDataBytes / 12>;
// Attached components (Part 2 TPMS_AC_OUTPUT, TPML_AC_CAPABILITIES): for the schema only (no AC
// is attached, commands/ac.cc).
struct TPMS_AC_OUTPUT {
  uint32_t tag = 0;  // TPM_AT
  uint32_t data = 0;
  UTPM_FIELDS(tag, data)
};
using TPML_AC_CAPABILITIES = Tpml<TPMS_AC_OUTPUT, kCapDataBytes / 8>;
union TPMU_CAPABILITIES {
  TPML_ALG_PROPERTY algorithms;
  TPML_HANDLE handles;
  TPML_CCA command;
  TPML_CC ppCommands;
  TPML_CC auditCommands;
  TPML_PCR_SELECTION assignedPCR;
  TPML_TAGGED_TPM_PROPERTY tpmProperties;
  TPML_TAGGED_PCR_PROPERTY pcrProperties;
  TPML_ECC_CURVE eccCurves;
  TPML_TAGGED_POLICY authPolicies;
  TPML_ACT_DATA actData;
  UTPM_UNION_ZERO_INIT(TPMU_CAPABILITIES)
  UTPM_ARMS(arm(TPM_CAP_ALGS, &TPMU_CAPABILITIES::algorithms), arm(TPM_CAP_HANDLES, &TPMU_CAPABILITIES::handles),
            arm(TPM_CAP_COMMANDS, &TPMU_CAPABILITIES::command), arm(TPM_CAP_PP_COMMANDS, &TPMU_CAPABILITIES::ppCommands),
            arm(TPM_CAP_AUDIT_COMMANDS, &TPMU_CAPABILITIES::auditCommands),
            arm(TPM_CAP_PCRS, &TPMU_CAPABILITIES::assignedPCR),
            arm(TPM_CAP_TPM_PROPERTIES, &TPMU_CAPABILITIES::tpmProperties),
            arm(TPM_CAP_PCR_PROPERTIES, &TPMU_CAPABILITIES::pcrProperties),
            arm(TPM_CAP_ECC_CURVES, &TPMU_CAPABILITIES::eccCurves),
            arm(TPM_CAP_AUTH_POLICIES, &TPMU_CAPABILITIES::authPolicies), arm(TPM_CAP_ACT, &TPMU_CAPABILITIES::actData))
};
struct TPMS_CAPABILITY_DATA {
  TPM_CAP_ANY capability;
  TPMU_CAPABILITIES data;
  UTPM_FIELDS(capability, select(data, capability))
};

}  // namespace utpm::tpm
