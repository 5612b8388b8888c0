// TPM 2.0 Part 2 NV structures (§13) and the NV command codes (Part 3 §31): TPMA_NV with its bit
// layout, TPM_NT, TPMS_NV_PUBLIC, TPM2B_NV_PUBLIC, TPM2B_MAX_NV_BUFFER, TPMI_RH_NV_INDEX and
// TPMI_RH_NV_AUTH. Names are the specification's; values match the TSS headers (constants_test).
#pragma once

#include <cstdint>
#include <span>

#include "tpm/marshal/marshal.h"
#include "tpm/profile.h"
#include "tpm/types/algorithms.h"
#include "tpm/types/constants.h"
#include "tpm/types/part2.h"

namespace utpm::tpm {

// ---- command codes (Part 2 §6.5.2) ----
inline constexpr TPM_CC TPM_CC_NV_UndefineSpaceSpecial = 0x11F;
inline constexpr TPM_CC TPM_CC_NV_UndefineSpace = 0x122;
inline constexpr TPM_CC TPM_CC_NV_DefineSpace = 0x12A;
inline constexpr TPM_CC TPM_CC_NV_GlobalWriteLock = 0x132;
inline constexpr TPM_CC TPM_CC_NV_Increment = 0x134;
inline constexpr TPM_CC TPM_CC_NV_SetBits = 0x135;
inline constexpr TPM_CC TPM_CC_NV_Extend = 0x136;
inline constexpr TPM_CC TPM_CC_NV_Write = 0x137;
inline constexpr TPM_CC TPM_CC_NV_WriteLock = 0x138;
inline constexpr TPM_CC TPM_CC_NV_ChangeAuth = 0x13B;
inline constexpr TPM_CC TPM_CC_NV_Read = 0x14E;
inline constexpr TPM_CC TPM_CC_NV_ReadLock = 0x14F;
inline constexpr TPM_CC TPM_CC_NV_ReadPublic = 0x169;
inline constexpr TPM_CC TPM_CC_NV_DefineSpace2 = 0x19D;  // 1.83+
inline constexpr TPM_CC TPM_CC_NV_ReadPublic2 = 0x19E;   // 1.83+

// ---- the NV handle types of 1.83+ (Part 2 §7.2): external and permanent NV indices ----
inline constexpr uint8_t TPM_HT_EXTERNAL_NV = 0x11;
inline constexpr uint8_t TPM_HT_PERMANENT_NV = 0x12;

// ---- NV handle range (Part 2 §7.4) ----
inline constexpr TPM_HANDLE NV_INDEX_FIRST = 0x01000000;
inline constexpr TPM_HANDLE NV_INDEX_LAST = 0x01FFFFFF;

// ---- TPM_NT (Part 2 §13.4): the index type, bits 7:4 of TPMA_NV ----
using TPM_NT = uint8_t;
inline constexpr TPM_NT TPM_NT_ORDINARY = 0x0;
inline constexpr TPM_NT TPM_NT_COUNTER = 0x1;
inline constexpr TPM_NT TPM_NT_BITS = 0x2;
inline constexpr TPM_NT TPM_NT_EXTEND = 0x4;
inline constexpr TPM_NT TPM_NT_PIN_FAIL = 0x8;
inline constexpr TPM_NT TPM_NT_PIN_PASS = 0x9;

// ---- TPMA_NV (Part 2 §13.4) ----
// The bits are members (TPMA_NV::WRITTEN): the TSS headers define the TPMA_NV_* names as macros.
struct TPMA_NV {
  static constexpr uint32_t PPWRITE = 1u << 0;
  static constexpr uint32_t OWNERWRITE = 1u << 1;
  static constexpr uint32_t AUTHWRITE = 1u << 2;
  static constexpr uint32_t POLICYWRITE = 1u << 3;
  static constexpr uint32_t TPM_NT_MASK = 0xFu << 4;
  static constexpr unsigned TPM_NT_SHIFT = 4;
  static constexpr uint32_t POLICY_DELETE = 1u << 10;
  static constexpr uint32_t WRITELOCKED = 1u << 11;
  static constexpr uint32_t WRITEALL = 1u << 12;
  static constexpr uint32_t WRITEDEFINE = 1u << 13;
  static constexpr uint32_t WRITE_STCLEAR = 1u << 14;
  static constexpr uint32_t GLOBALLOCK = 1u << 15;
  static constexpr uint32_t PPREAD = 1u << 16;
  static constexpr uint32_t OWNERREAD = 1u << 17;
  static constexpr uint32_t AUTHREAD = 1u << 18;
  static constexpr uint32_t POLICYREAD = 1u << 19;
  static constexpr uint32_t NO_DA = 1u << 25;
  static constexpr uint32_t ORDERLY = 1u << 26;
  static constexpr uint32_t CLEAR_STCLEAR = 1u << 27;
  static constexpr uint32_t READLOCKED = 1u << 28;
  static constexpr uint32_t WRITTEN = 1u << 29;
  static constexpr uint32_t PLATFORMCREATE = 1u << 30;
  static constexpr uint32_t READ_STCLEAR = 1u << 31;
  static constexpr uint32_t kReserved = (0x3u << 8) | (0x1Fu << 20);  // bits 9:8, 24:20

  uint32_t value = 0;
  bool has(uint32_t bit) const { return (value & bit) != 0; }
  TPM_NT type() const { return static_cast<TPM_NT>((value & TPM_NT_MASK) >> TPM_NT_SHIFT); }
};
inline TPM_RC unmarshal(Reader& r, TPMA_NV& v) {
  if (!r.u32(v.value)) return TPM_RC_INSUFFICIENT;
  return (v.value & TPMA_NV::kReserved) ? TPM_RC_RESERVED_BITS : TPM_RC_SUCCESS;
}
inline void marshal(Writer& w, const TPMA_NV& v) { w.u32(v.value); }

// ---- interface types ----
// TPMI_RH_NV_INDEX: a handle in the NV index range (TPM_RC_VALUE otherwise).
struct NvIndexTraits {
  using type = TPM_HANDLE;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v >= NV_INDEX_FIRST && v <= NV_INDEX_LAST; }
};
using TPMI_RH_NV_INDEX = Tpmi<NvIndexTraits>;
// TPMI_RH_NV_AUTH: owner, platform or an NV index.
struct NvAuthTraits {
  using type = TPM_HANDLE;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v == TPM_RH_OWNER || v == TPM_RH_PLATFORM || NvIndexTraits::valid(v); }
};
using TPMI_RH_NV_AUTH = Tpmi<NvAuthTraits>;

// ---- TPMS_NV_PUBLIC / TPM2B_NV_PUBLIC (Part 2 §13.5, §13.6) ----
struct TPMS_NV_PUBLIC {
  TPMI_RH_NV_INDEX nvIndex{NV_INDEX_FIRST};
  TPMI_ALG_HASH nameAlg{TPM_ALG_SHA256};
  TPMA_NV attributes;
  TPM2B_DIGEST authPolicy;
  uint16_t dataSize = 0;
  UTPM_FIELDS(nvIndex, nameAlg, attributes, authPolicy, dataSize)
};
using TPM2B_NV_PUBLIC = Sized<TPMS_NV_PUBLIC>;

// ---- TPMA_NV_EXP, TPMT_NV_PUBLIC_2, TPM2B_NV_PUBLIC_2 (Part 2 §13.5-13.8, 1.83+) ----
// TPMA_NV_EXP (UINT64): the low 32 bits are TPMA_NV, bits 32-34 the external-NV attributes.
struct TPMA_NV_EXP {
  static constexpr uint64_t EXTERNAL_NV_ENCRYPTION = uint64_t{1} << 32;
  static constexpr uint64_t EXTERNAL_NV_INTEGRITY = uint64_t{1} << 33;
  static constexpr uint64_t EXTERNAL_NV_ANTIROLLBACK = uint64_t{1} << 34;
};
// TPMI_RH_NV_EXP_INDEX (externalNV arm) and the permanentNV arm's index: a handle of the type
// the handleType names (TPM_RC_VALUE otherwise).
template <uint8_t HandleType>
struct NvHandleOfTypeTraits {
  using type = TPM_HANDLE;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return handle_type(v) == HandleType; }
};
using TPMI_RH_NV_EXP_INDEX = Tpmi<NvHandleOfTypeTraits<TPM_HT_EXTERNAL_NV>>;
// TPMS_NV_PUBLIC_EXP_ATTR (Part 2 §13.7): TPMS_NV_PUBLIC with the 64-bit TPMA_NV_EXP.
struct TPMS_NV_PUBLIC_EXP_ATTR {
  TPMI_RH_NV_EXP_INDEX nvIndex;
  TPMI_ALG_HASH nameAlg{TPM_ALG_SHA256};
  uint64_t attributes = 0;  // TPMA_NV_EXP
  TPM2B_DIGEST authPolicy;
  uint16_t dataSize = 0;
  UTPM_FIELDS(nvIndex, nameAlg, attributes, authPolicy, dataSize)
};
// The permanentNV arm. Part 2 gives it TPMS_NV_PUBLIC, whose TPMI_RH_NV_INDEX here is the
// ordinary index range only; so this arm checks its nvIndex against the permanent-NV range the
// handleType names. Same fields, same wire form.
struct TPMS_NV_PUBLIC_PERMANENT {
  Tpmi<NvHandleOfTypeTraits<TPM_HT_PERMANENT_NV>> nvIndex;
  TPMI_ALG_HASH nameAlg{TPM_ALG_SHA256};
  TPMA_NV attributes;
  TPM2B_DIGEST authPolicy;
  uint16_t dataSize = 0;
  UTPM_FIELDS(nvIndex, nameAlg, attributes, authPolicy, dataSize)
};
// TPMU_NV_PUBLIC_2 / TPMT_NV_PUBLIC_2 (Part 2 §13.8, §13.9): handleType selects the arm. This
// TPM has no external or permanent NV indices: those arms are read for their form (so the
// decoder shows them field by field) and NV_DefineSpace2 answers TPM_RC_HANDLE for them.
union TPMU_NV_PUBLIC_2 {
  TPMS_NV_PUBLIC nvIndex;
  TPMS_NV_PUBLIC_EXP_ATTR externalNV;
  TPMS_NV_PUBLIC_PERMANENT permanentNV;
  UTPM_ARMS(arm(TPM_HT_NV_INDEX, &TPMU_NV_PUBLIC_2::nvIndex), arm(TPM_HT_EXTERNAL_NV, &TPMU_NV_PUBLIC_2::externalNV),
            arm(TPM_HT_PERMANENT_NV, &TPMU_NV_PUBLIC_2::permanentNV))
  UTPM_UNION_ZERO_INIT(TPMU_NV_PUBLIC_2)
};
struct TPMT_NV_PUBLIC_2 {
  uint8_t handleType = TPM_HT_NV_INDEX;
  TPMU_NV_PUBLIC_2 publicArea;
  UTPM_FIELDS(handleType, select(publicArea, handleType))
};
using TPM2B_NV_PUBLIC_2 = Sized<TPMT_NV_PUBLIC_2>;

// TPM2B_MAX_NV_BUFFER (MAX_NV_BUFFER_SIZE octets at most).
using TPM2B_MAX_NV_BUFFER = Tpm2b<profile::kMaxNvBuffer>;

// A TPM2B parameter taken as a view into the command's parameter area instead of a copy (an NV
// write of up to MAX_NV_BUFFER_SIZE octets costs no stack). Same checks as Tpm2b<N>: TPM_RC_SIZE
// above N, TPM_RC_INSUFFICIENT if the bytes are not there. The view lives as long as the
// parameter area: a handler must be done with it before it writes output (command.h).
template <size_t N>
struct Tpm2bView {
  std::span<const uint8_t> data;
  size_t size() const { return data.size(); }
};
template <size_t N>
TPM_RC unmarshal(Reader& r, Tpm2bView<N>& v) {
  uint16_t size = 0;
  v.data = {};
  if (!r.u16(size)) return TPM_RC_INSUFFICIENT;
  if (size > N) return TPM_RC_SIZE;
  return r.take(size, v.data) ? TPM_RC_SUCCESS : TPM_RC_INSUFFICIENT;
}
using TPM2B_MAX_NV_BUFFER_VIEW = Tpm2bView<profile::kMaxNvBuffer>;

}  // namespace utpm::tpm
