// TPM 2.0 Part 2 structures used by the engine, each declared once with its wire layout
// (UTPM_FIELDS lists fields in wire order). Names are the specification's.
#pragma once

#include <cstdint>

#include "tpm/marshal/marshal.h"
#include "tpm/profile.h"
#include "tpm/types/algorithms.h"
#include "tpm/types/constants.h"

namespace utpm::tpm {

// ---- interface types ----
struct HashTraits {
  using type = TPM_ALG_ID;
  static constexpr TPM_RC rc = TPM_RC_HASH;
  static constexpr type null_value = TPM_ALG_NULL;
  static constexpr bool valid(type v) { return hash_implemented(v); }
};
using TPMI_ALG_HASH = Tpmi<HashTraits>;
using TPMI_ALG_HASH_NULL = Tpmi<HashTraits, true>;  // TPMI_ALG_HASH+

struct YesNoTraits {
  using type = uint8_t;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v <= 1; }
};
using TPMI_YES_NO_CHECKED = Tpmi<YesNoTraits>;

struct StartupTypeTraits {
  using type = TPM_SU;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v == TPM_SU_CLEAR || v == TPM_SU_STATE; }
};
using TPM_SU_CHECKED = Tpmi<StartupTypeTraits>;

struct ClockAdjustTraits {
  using type = int8_t;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v >= -3 && v <= 3; }
};
using TPM_CLOCK_ADJUST = Tpmi<ClockAdjustTraits>;

// Hierarchy handles as parameters (TPMI_RH_HIERARCHY+).
struct HierarchyTraits {
  using type = TPM_HANDLE;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr type null_value = TPM_RH_NULL;
  static constexpr bool valid(type v) {
    return v == TPM_RH_OWNER || v == TPM_RH_PLATFORM || v == TPM_RH_ENDORSEMENT;
  }
};
using TPMI_RH_HIERARCHY = Tpmi<HierarchyTraits>;
using TPMI_RH_HIERARCHY_NULL = Tpmi<HierarchyTraits, true>;

// TPMI_DH_CONTEXT: a loaded object or a session.
struct ContextHandleTraits {
  using type = TPM_HANDLE;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) {
    uint8_t t = handle_type(v);
    uint32_t index = v & 0x00FFFFFF;
    if (t == TPM_HT_TRANSIENT) return index < profile::kMaxLoadedObjects;
    if (t == TPM_HT_HMAC_SESSION || t == TPM_HT_POLICY_SESSION)
      return index < profile::kMaxActiveSessions;
    return false;
  }
};
using TPMI_DH_CONTEXT = Tpmi<ContextHandleTraits>;

struct SessionTypeTraits {
  using type = uint8_t;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v == 0x00 || v == 0x01 || v == 0x03; }  // HMAC, POLICY, TRIAL
};
using TPM_SE_CHECKED = Tpmi<SessionTypeTraits>;

// TPMT_SYM_DEF+ for sessions (parameter encryption): AES (and on the host Camellia and SM4) in
// CFB mode, XOR with a hash, or NULL (TPM_RC_SYMMETRIC for another algorithm). Part 2 §11.1.6:
// for XOR, keyBits carries the hash algorithm (TPM_RC_HASH) and there is no mode; AES and
// Camellia keys are 128 or 256 bits (192 on the host), SM4 keys 128 (TPM_RC_VALUE), and
// sessions encrypt in CFB only (TPM_RC_MODE).
struct SymAlgTraits {
  using type = TPM_ALG_ID;
  static constexpr TPM_RC rc = TPM_RC_SYMMETRIC;
  static constexpr type null_value = TPM_ALG_NULL;
  static constexpr bool valid(type v) {
    return v == TPM_ALG_AES || v == TPM_ALG_XOR || (v == TPM_ALG_SM4 && profile::kSm4) ||
           (v == TPM_ALG_CAMELLIA && profile::kCamellia);
  }
};
using TPMI_ALG_SYM_NULL = Tpmi<SymAlgTraits, true>;
struct SessionAesKeyBitsTraits {
  using type = uint16_t;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v == 128 || v == 256 || (v == 192 && profile::kAes192); }
};
struct SessionSm4KeyBitsTraits {
  using type = uint16_t;
  static constexpr TPM_RC rc = TPM_RC_VALUE;
  static constexpr bool valid(type v) { return v == 128; }
};
struct SessionSymModeTraits {
  using type = TPM_ALG_ID;
  static constexpr TPM_RC rc = TPM_RC_MODE;
  static constexpr bool valid(type v) { return v == TPM_ALG_CFB; }
};
// Both arms are one 16-bit value (a common initial sequence): either may be read as the number.
union TPMU_SYM_KEY_BITS {
  Tpmi<SessionAesKeyBitsTraits> aes;
  Tpmi<SessionSm4KeyBitsTraits> sm4;
  Tpmi<SessionAesKeyBitsTraits> camellia;  // the same sizes as AES
  TPMI_ALG_HASH exclusiveOr;
  UTPM_UNION_ZERO_INIT(TPMU_SYM_KEY_BITS)
  UTPM_ARMS(arm(TPM_ALG_AES, &TPMU_SYM_KEY_BITS::aes), arm(TPM_ALG_SM4, &TPMU_SYM_KEY_BITS::sm4),
            arm(TPM_ALG_CAMELLIA, &TPMU_SYM_KEY_BITS::camellia), arm(TPM_ALG_XOR, &TPMU_SYM_KEY_BITS::exclusiveOr),
            no_arm(TPM_ALG_NULL))
};
union TPMU_SYM_MODE {
  Tpmi<SessionSymModeTraits> aes;
  Tpmi<SessionSymModeTraits> sm4;
  Tpmi<SessionSymModeTraits> camellia;
  UTPM_UNION_ZERO_INIT(TPMU_SYM_MODE)
  UTPM_ARMS(arm(TPM_ALG_AES, &TPMU_SYM_MODE::aes), arm(TPM_ALG_SM4, &TPMU_SYM_MODE::sm4),
            arm(TPM_ALG_CAMELLIA, &TPMU_SYM_MODE::camellia), no_arm(TPM_ALG_XOR), no_arm(TPM_ALG_NULL))
};
struct TPMT_SYM_DEF {
  TPMI_ALG_SYM_NULL algorithm{TPM_ALG_NULL};
  TPMU_SYM_KEY_BITS keyBits;
  TPMU_SYM_MODE mode;
  UTPM_FIELDS(algorithm, select(keyBits, algorithm), select(mode, algorithm))
};

// ---- sized buffers ----
using TPM2B_DIGEST = Tpm2b<profile::kMaxDigestSize>;
using TPM2B_NONCE = TPM2B_DIGEST;
using TPM2B_AUTH = TPM2B_DIGEST;
using TPM2B_MAX_BUFFER = Tpm2b<profile::kMaxDigestBuffer>;
using TPM2B_EVENT = Tpm2b<profile::kMaxEventData>;
using TPM2B_SENSITIVE_DATA = Tpm2b<profile::kMaxSensitiveData>;
using TPM2B_ENCRYPTED_SECRET = Tpm2b<profile::kMaxRsaKeyBits / 8>;

// ---- digests ----
// TPMU_HA: the digest bytes; its length is selected by the hash algorithm.
struct TPMU_HA {
  uint8_t bytes[profile::kMaxDigestSize];
};
inline TPM_RC unmarshal(Reader& r, TPMU_HA& u, uint32_t hash_alg) {
  return r.bytes(u.bytes, digest_size(static_cast<TPM_ALG_ID>(hash_alg))) ? TPM_RC_SUCCESS
                                                                          : TPM_RC_INSUFFICIENT;
}
inline void marshal(Writer& w, const TPMU_HA& u, uint32_t hash_alg) {
  w.bytes(u.bytes, digest_size(static_cast<TPM_ALG_ID>(hash_alg)));
}

struct TPMT_HA {
  TPMI_ALG_HASH_NULL hashAlg{TPM_ALG_NULL};
  TPMU_HA digest;
  UTPM_FIELDS(hashAlg, select(digest, hashAlg))
};

// Part 2: "TPMT_HA digests[count]", no '+': TPM_ALG_NULL is TPM_RC_HASH.
using TPML_DIGEST_VALUES = Tpml<NoNull<TPMT_HA>, kHashCount>;
using TPML_DIGEST = Tpml<TPM2B_DIGEST, 8>;
using TPML_ALG = Tpml<TPM_ALG_ID, 64>;

// ---- PCR selection ----
// sizeofSelect in [PCR_SELECT_MIN, PCR_SELECT_MAX] (TPM_RC_VALUE otherwise), then that many octets.
struct TPMS_PCR_SELECTION {
  TPMI_ALG_HASH hash;
  uint8_t sizeofSelect = 0;
  uint8_t pcrSelect[profile::kPcrSelectMax]{};
  UTPM_FIELDS(hash, counted(sizeofSelect, pcrSelect, profile::kPcrSelectMin))

  bool selected(uint32_t pcr) const {
    return pcr / 8 < sizeofSelect && (pcrSelect[pcr / 8] >> (pcr % 8) & 1);
  }
};
using TPML_PCR_SELECTION = Tpml<TPMS_PCR_SELECTION, kHashCount>;

// ---- tickets, clock ----
// A hashcheck ticket's tag is TPM_ST_HASHCHECK (TPM_RC_TAG otherwise) and its hierarchy a
// TPMI_RH_HIERARCHY+ (TPM_RC_VALUE otherwise), checked when it is unmarshalled.
struct HashcheckTagTraits {
  using type = TPM_ST;
  static constexpr TPM_RC rc = TPM_RC_TAG;
  static constexpr bool valid(type v) { return v == TPM_ST_HASHCHECK; }
};
struct TPMT_TK_HASHCHECK {
  Tpmi<HashcheckTagTraits> tag{TPM_ST_HASHCHECK};
  TPMI_RH_HIERARCHY_NULL hierarchy{TPM_RH_NULL};
  TPM2B_DIGEST digest;
  UTPM_FIELDS(tag, hierarchy, digest)
};

// TPMT_TK_AUTH (PolicySigned / PolicySecret tickets): tag TPM_ST_AUTH_SIGNED or
// TPM_ST_AUTH_SECRET (TPM_RC_TAG otherwise), hierarchy a TPMI_RH_HIERARCHY+.
struct AuthTicketTagTraits {
  using type = TPM_ST;
  static constexpr TPM_RC rc = TPM_RC_TAG;
  static constexpr bool valid(type v) { return v == TPM_ST_AUTH_SIGNED || v == TPM_ST_AUTH_SECRET; }
};
struct TPMT_TK_AUTH {
  Tpmi<AuthTicketTagTraits> tag{TPM_ST_AUTH_SECRET};
  TPMI_RH_HIERARCHY_NULL hierarchy{TPM_RH_NULL};
  TPM2B_DIGEST digest;
  UTPM_FIELDS(tag, hierarchy, digest)
};
// TPM2B_TIMEOUT: an implementation-defined time of up to 8 octets (ours: the expiry in TPM
// time, ms since _TPM_Init, big-endian). TPM2B_OPERAND: PolicyCounterTimer's operandB.
using TPM2B_TIMEOUT = Tpm2b<8>;
using TPM2B_OPERAND = TPM2B_DIGEST;
using TPM_EO = uint16_t;

struct TPMS_CLOCK_INFO {
  uint64_t clock = 0;
  uint32_t resetCount = 0;
  uint32_t restartCount = 0;
  TPMI_YES_NO safe = 0;
  UTPM_FIELDS(clock, resetCount, restartCount, safe)
};
struct TPMS_TIME_INFO {
  uint64_t time = 0;
  TPMS_CLOCK_INFO clockInfo;
  UTPM_FIELDS(time, clockInfo)
};

// ---- contexts (Part 2 §14.5) ----
using TPM2B_CONTEXT_DATA = Tpm2b<profile::kMaxContextSize>;
struct TPMS_CONTEXT {
  uint64_t sequence = 0;
  TPM_HANDLE savedHandle = 0;
  TPM_HANDLE hierarchy = TPM_RH_NULL;
  TPM2B_CONTEXT_DATA contextBlob;
  UTPM_FIELDS(sequence, savedHandle, hierarchy, contextBlob)
};

}  // namespace utpm::tpm
