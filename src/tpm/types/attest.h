// TPM 2.0 Part 2 attestation structures (§10.12) and credential structures (§12.4.4), with the
// command codes of Part 3 chapters 12.5-12.6 and 18. Names are the specification's; values are
// pinned to the TSS headers by constants_test.
#pragma once

#include <cstdint>

#include "tpm/marshal/marshal.h"
#include "tpm/profile.h"
#include "tpm/types/constants.h"
#include "tpm/types/nv.h"
#include "tpm/types/object.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

// ---- command codes (Part 2 §6.5.2) ----
inline constexpr TPM_CC TPM_CC_ActivateCredential = 0x147;
inline constexpr TPM_CC TPM_CC_Certify = 0x148;
inline constexpr TPM_CC TPM_CC_CertifyCreation = 0x14A;
inline constexpr TPM_CC TPM_CC_GetTime = 0x14C;
inline constexpr TPM_CC TPM_CC_Quote = 0x158;
inline constexpr TPM_CC TPM_CC_MakeCredential = 0x168;
inline constexpr TPM_CC TPM_CC_NV_Certify = 0x184;
inline constexpr TPM_CC TPM_CC_GetCommandAuditDigest = 0x133;
inline constexpr TPM_CC TPM_CC_SetCommandCodeAuditStatus = 0x140;
inline constexpr TPM_CC TPM_CC_GetSessionAuditDigest = 0x14D;
inline constexpr TPM_CC TPM_CC_CertifyX509 = 0x197;

// ---- TPM_ST for attestation structures (Part 2 §6.9) ----
inline constexpr TPM_ST TPM_ST_ATTEST_NV = 0x8014;
inline constexpr TPM_ST TPM_ST_ATTEST_COMMAND_AUDIT = 0x8015;
inline constexpr TPM_ST TPM_ST_ATTEST_SESSION_AUDIT = 0x8016;
inline constexpr TPM_ST TPM_ST_ATTEST_CERTIFY = 0x8017;
inline constexpr TPM_ST TPM_ST_ATTEST_QUOTE = 0x8018;
inline constexpr TPM_ST TPM_ST_ATTEST_CREATION = 0x801A;
inline constexpr TPM_ST TPM_ST_ATTEST_NV_DIGEST = 0x801C;
// TPM_ST_ATTEST_TIME (0x8019) is in constants.h.

// TPML_CC (Part 2 §10.9.1) as a parameter: the count (at most MAX_CAP_CC, TPM_RC_SIZE above) and
// a view of the codes in the command buffer (no 1 KB array on the stack).
inline constexpr uint32_t kMaxCapCommands = (profile::kMaxCapBuffer - 4 - 4) / 4;  // MAX_CAP_CC
struct TPML_CC_VIEW {
  uint32_t count = 0;
  std::span<const uint8_t> codes;
  TPM_CC at(uint32_t i) const {
    return uint32_t{codes[4 * i]} << 24 | uint32_t{codes[4 * i + 1]} << 16 | uint32_t{codes[4 * i + 2]} << 8 |
           codes[4 * i + 3];
  }
};
inline TPM_RC unmarshal(Reader& r, TPML_CC_VIEW& v) {
  v = {};
  uint32_t count = 0;
  if (!r.u32(count)) return TPM_RC_INSUFFICIENT;
  if (count > kMaxCapCommands) return TPM_RC_SIZE;
  if (!r.take(4 * count, v.codes)) return TPM_RC_INSUFFICIENT;
  v.count = count;
  return TPM_RC_SUCCESS;
}

// ---- the attested information, one structure per kind (Part 2 §10.12.3-§10.12.10) ----
struct TPMS_CERTIFY_INFO {
  TPM2B_NAME name;
  TPM2B_NAME qualifiedName;
  UTPM_FIELDS(name, qualifiedName)
};
struct TPMS_QUOTE_INFO {
  TPML_PCR_SELECTION pcrSelect;
  TPM2B_DIGEST pcrDigest;
  UTPM_FIELDS(pcrSelect, pcrDigest)
};
struct TPMS_COMMAND_AUDIT_INFO {
  uint64_t auditCounter = 0;
  TPM_ALG_ID digestAlg = TPM_ALG_NULL;
  TPM2B_DIGEST auditDigest;
  TPM2B_DIGEST commandDigest;
  UTPM_FIELDS(auditCounter, digestAlg, auditDigest, commandDigest)
};
struct TPMS_SESSION_AUDIT_INFO {
  TPMI_YES_NO exclusiveSession = 0;
  TPM2B_DIGEST sessionDigest;
  UTPM_FIELDS(exclusiveSession, sessionDigest)
};
struct TPMS_CREATION_INFO {
  TPM2B_NAME objectName;
  TPM2B_DIGEST creationHash;
  UTPM_FIELDS(objectName, creationHash)
};
struct TPMS_NV_CERTIFY_INFO {
  TPM2B_NAME indexName;
  uint16_t offset = 0;
  TPM2B_MAX_NV_BUFFER nvContents;
  UTPM_FIELDS(indexName, offset, nvContents)
};
struct TPMS_NV_DIGEST_CERTIFY_INFO {
  TPM2B_NAME indexName;
  TPM2B_DIGEST nvDigest;
  UTPM_FIELDS(indexName, nvDigest)
};
struct TPMS_TIME_ATTEST_INFO {
  TPMS_TIME_INFO time;
  uint64_t firmwareVersion = 0;
  UTPM_FIELDS(time, firmwareVersion)
};

// TPMI_ST_ATTEST: the attestation structure tags (TPM_RC_VALUE otherwise).
struct AttestTagTraits {
  using type = TPM_ST;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) {
    return (v >= TPM_ST_ATTEST_NV && v <= TPM_ST_ATTEST_CREATION) || v == TPM_ST_ATTEST_NV_DIGEST;
  }
};
using TPMI_ST_ATTEST = Tpmi<AttestTagTraits>;

union TPMU_ATTEST {
  TPMS_CERTIFY_INFO certify;
  TPMS_CREATION_INFO creation;
  TPMS_QUOTE_INFO quote;
  TPMS_COMMAND_AUDIT_INFO commandAudit;
  TPMS_SESSION_AUDIT_INFO sessionAudit;
  TPMS_TIME_ATTEST_INFO time;
  TPMS_NV_CERTIFY_INFO nv;
  TPMS_NV_DIGEST_CERTIFY_INFO nvDigest;
  UTPM_UNION_ZERO_INIT(TPMU_ATTEST)
  UTPM_ARMS(arm(TPM_ST_ATTEST_CERTIFY, &TPMU_ATTEST::certify), arm(TPM_ST_ATTEST_CREATION, &TPMU_ATTEST::creation),
            arm(TPM_ST_ATTEST_QUOTE, &TPMU_ATTEST::quote),
            arm(TPM_ST_ATTEST_COMMAND_AUDIT, &TPMU_ATTEST::commandAudit),
            arm(TPM_ST_ATTEST_SESSION_AUDIT, &TPMU_ATTEST::sessionAudit), arm(TPM_ST_ATTEST_TIME, &TPMU_ATTEST::time),
            arm(TPM_ST_ATTEST_NV, &TPMU_ATTEST::nv), arm(TPM_ST_ATTEST_NV_DIGEST, &TPMU_ATTEST::nvDigest))
};

// TPMS_ATTEST (Part 2 §10.12.12): what every attestation command signs. The handlers write it
// straight into the response buffer (the NV arm alone is over 1 KB): header fields with
// attest_begin(), their arm, then attest_finish() (commands/attestation.cc). The full structure
// is for decoding (tests).
struct TPMS_ATTEST {
  uint32_t magic = TPM_GENERATED_VALUE;  // TPM_GENERATED
  TPMI_ST_ATTEST type{TPM_ST_ATTEST_CERTIFY};
  TPM2B_NAME qualifiedSigner;
  TPM2B_DATA extraData;
  TPMS_CLOCK_INFO clockInfo;
  uint64_t firmwareVersion = 0;
  TPMU_ATTEST attested;
  UTPM_FIELDS(magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion, select(attested, type))
};
using TPM2B_ATTEST = Sized<TPMS_ATTEST>;

}  // namespace utpm::tpm
