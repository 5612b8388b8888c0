// TPM 2.0 Part 2 constants, spelled as the specification spells them (TPM_RC_VALUE,
// TPM_CC_Startup, TPM_ALG_SHA256, ...). The TSS headers use a TPM2_ prefix, so the two never
// collide; constants_test.cc checks every value here against /usr/include/tss2.
#pragma once

#include <cstdint>

namespace utpm::tpm {

using TPM_RC = uint32_t;
using TPM_CC = uint32_t;
using TPM_ALG_ID = uint16_t;
using TPM_ST = uint16_t;
using TPM_SU = uint16_t;
using TPM_HANDLE = uint32_t;
using TPM_CAP = uint32_t;
using TPM_PT = uint32_t;
using TPM_PT_PCR = uint32_t;
using TPM_ECC_CURVE = uint16_t;
using TPMI_YES_NO = uint8_t;

// ---- response codes (Part 2 §6.6). One list: names for traces come from here too. ----
#define UTPM_RC_LIST(X)                                                                          \
  X(TPM_RC_SUCCESS, 0x000) X(TPM_RC_BAD_TAG, 0x01E)                                              \
  /* format zero, version 1 */                                                                   \
  X(TPM_RC_INITIALIZE, 0x100) X(TPM_RC_FAILURE, 0x101) X(TPM_RC_SEQUENCE, 0x103)                 \
  X(TPM_RC_PRIVATE, 0x10B) X(TPM_RC_HMAC, 0x119) X(TPM_RC_DISABLED, 0x120)                       \
  X(TPM_RC_EXCLUSIVE, 0x121) X(TPM_RC_AUTH_TYPE, 0x124) X(TPM_RC_AUTH_MISSING, 0x125)            \
  X(TPM_RC_POLICY, 0x126) X(TPM_RC_PCR, 0x127) X(TPM_RC_PCR_CHANGED, 0x128)                      \
  X(TPM_RC_UPGRADE, 0x12D) X(TPM_RC_TOO_MANY_CONTEXTS, 0x12E) X(TPM_RC_AUTH_UNAVAILABLE, 0x12F)  \
  X(TPM_RC_REBOOT, 0x130) X(TPM_RC_UNBALANCED, 0x131) X(TPM_RC_COMMAND_SIZE, 0x142)              \
  X(TPM_RC_COMMAND_CODE, 0x143) X(TPM_RC_AUTHSIZE, 0x144) X(TPM_RC_AUTH_CONTEXT, 0x145)          \
  X(TPM_RC_NV_RANGE, 0x146) X(TPM_RC_NV_SIZE, 0x147) X(TPM_RC_NV_LOCKED, 0x148)                  \
  X(TPM_RC_NV_AUTHORIZATION, 0x149) X(TPM_RC_NV_UNINITIALIZED, 0x14A) X(TPM_RC_NV_SPACE, 0x14B)  \
  X(TPM_RC_NV_DEFINED, 0x14C) X(TPM_RC_BAD_CONTEXT, 0x150) X(TPM_RC_CPHASH, 0x151)               \
  X(TPM_RC_PARENT, 0x152) X(TPM_RC_NEEDS_TEST, 0x153) X(TPM_RC_NO_RESULT, 0x154)                 \
  X(TPM_RC_SENSITIVE, 0x155) X(TPM_RC_READ_ONLY, 0x156) X(TPM_RC_CHANNEL, 0x0B0) X(TPM_RC_CHANNEL_KEY, 0x0B1)                                          \
  /* format one: parameter/handle/session number is added in bits 6 and 8..11 */                 \
  X(TPM_RC_ASYMMETRIC, 0x081) X(TPM_RC_ATTRIBUTES, 0x082) X(TPM_RC_HASH, 0x083)                  \
  X(TPM_RC_VALUE, 0x084) X(TPM_RC_HIERARCHY, 0x085) X(TPM_RC_KEY_SIZE, 0x087)                    \
  X(TPM_RC_MGF, 0x088) X(TPM_RC_MODE, 0x089) X(TPM_RC_TYPE, 0x08A) X(TPM_RC_HANDLE, 0x08B)       \
  X(TPM_RC_KDF, 0x08C) X(TPM_RC_RANGE, 0x08D) X(TPM_RC_AUTH_FAIL, 0x08E) X(TPM_RC_NONCE, 0x08F)  \
  X(TPM_RC_PP, 0x090) X(TPM_RC_SCHEME, 0x092) X(TPM_RC_SIZE, 0x095) X(TPM_RC_SYMMETRIC, 0x096)   \
  X(TPM_RC_TAG, 0x097) X(TPM_RC_SELECTOR, 0x098) X(TPM_RC_INSUFFICIENT, 0x09A)                   \
  X(TPM_RC_SIGNATURE, 0x09B) X(TPM_RC_KEY, 0x09C) X(TPM_RC_POLICY_FAIL, 0x09D)                   \
  X(TPM_RC_INTEGRITY, 0x09F) X(TPM_RC_TICKET, 0x0A0) X(TPM_RC_RESERVED_BITS, 0x0A1)              \
  X(TPM_RC_BAD_AUTH, 0x0A2) X(TPM_RC_EXPIRED, 0x0A3) X(TPM_RC_POLICY_CC, 0x0A4)                  \
  X(TPM_RC_BINDING, 0x0A5) X(TPM_RC_CURVE, 0x0A6) X(TPM_RC_ECC_POINT, 0x0A7)                     \
  /* warnings */                                                                                 \
  X(TPM_RC_CONTEXT_GAP, 0x901) X(TPM_RC_OBJECT_MEMORY, 0x902) X(TPM_RC_SESSION_MEMORY, 0x903)    \
  X(TPM_RC_MEMORY, 0x904) X(TPM_RC_SESSION_HANDLES, 0x905) X(TPM_RC_OBJECT_HANDLES, 0x906)       \
  X(TPM_RC_LOCALITY, 0x907) X(TPM_RC_YIELDED, 0x908) X(TPM_RC_CANCELED, 0x909)                   \
  X(TPM_RC_TESTING, 0x90A) X(TPM_RC_REFERENCE_H0, 0x910) X(TPM_RC_REFERENCE_S0, 0x918)           \
  X(TPM_RC_NV_RATE, 0x920) X(TPM_RC_LOCKOUT, 0x921) X(TPM_RC_RETRY, 0x922)                       \
  X(TPM_RC_NV_UNAVAILABLE, 0x923)

#define UTPM_DECLARE_RC(name, value) inline constexpr TPM_RC name = value;
UTPM_RC_LIST(UTPM_DECLARE_RC)
#undef UTPM_DECLARE_RC

inline constexpr TPM_RC TPM_RC_FMT1 = 0x080;
inline constexpr TPM_RC TPM_RC_WARN = 0x900;
inline constexpr TPM_RC TPM_RC_H = 0x000;
inline constexpr TPM_RC TPM_RC_P = 0x040;
inline constexpr TPM_RC TPM_RC_S = 0x800;
inline constexpr TPM_RC TPM_RC_N_SHIFT = 8;

// Adds "parameter n" / "handle n" / "session n" to a format-one code (Part 2 §6.6.3).
// Format-zero codes and warnings carry no number and pass through unchanged.
constexpr bool rc_is_fmt1(TPM_RC rc) { return (rc & TPM_RC_FMT1) != 0; }
constexpr TPM_RC rc_param(TPM_RC rc, unsigned n) {
  return rc_is_fmt1(rc) && (rc & 0xFC0) == TPM_RC_FMT1 ? rc | TPM_RC_P | (n << TPM_RC_N_SHIFT) : rc;
}
constexpr TPM_RC rc_handle(TPM_RC rc, unsigned n) {
  return rc_is_fmt1(rc) && (rc & 0xFC0) == TPM_RC_FMT1 ? rc | TPM_RC_H | (n << TPM_RC_N_SHIFT) : rc;
}
constexpr TPM_RC rc_session(TPM_RC rc, unsigned n) {
  return rc_is_fmt1(rc) && (rc & 0xFC0) == TPM_RC_FMT1 ? rc | TPM_RC_S | (n << TPM_RC_N_SHIFT) : rc;
}

// ---- structure tags ----
inline constexpr TPM_ST TPM_ST_RSP_COMMAND = 0x00C4;
inline constexpr TPM_ST TPM_ST_NULL = 0x8000;
inline constexpr TPM_ST TPM_ST_NO_SESSIONS = 0x8001;
inline constexpr TPM_ST TPM_ST_SESSIONS = 0x8002;
inline constexpr TPM_ST TPM_ST_ATTEST_TIME = 0x8019;
inline constexpr TPM_ST TPM_ST_CREATION = 0x8021;
inline constexpr TPM_ST TPM_ST_VERIFIED = 0x8022;
inline constexpr TPM_ST TPM_ST_AUTH_SECRET = 0x8023;
inline constexpr TPM_ST TPM_ST_HASHCHECK = 0x8024;
inline constexpr TPM_ST TPM_ST_AUTH_SIGNED = 0x8025;

inline constexpr TPM_SU TPM_SU_CLEAR = 0x0000;
inline constexpr TPM_SU TPM_SU_STATE = 0x0001;

inline constexpr uint32_t TPM_GENERATED_VALUE = 0xff544347;

// ---- algorithms ----
inline constexpr TPM_ALG_ID TPM_ALG_ERROR = 0x0000;
inline constexpr TPM_ALG_ID TPM_ALG_RSA = 0x0001;
inline constexpr TPM_ALG_ID TPM_ALG_SHA1 = 0x0004;
inline constexpr TPM_ALG_ID TPM_ALG_HMAC = 0x0005;
inline constexpr TPM_ALG_ID TPM_ALG_AES = 0x0006;
inline constexpr TPM_ALG_ID TPM_ALG_MGF1 = 0x0007;
inline constexpr TPM_ALG_ID TPM_ALG_KEYEDHASH = 0x0008;
inline constexpr TPM_ALG_ID TPM_ALG_XOR = 0x000A;
inline constexpr TPM_ALG_ID TPM_ALG_SHA256 = 0x000B;
inline constexpr TPM_ALG_ID TPM_ALG_SHA384 = 0x000C;
inline constexpr TPM_ALG_ID TPM_ALG_SHA512 = 0x000D;
inline constexpr TPM_ALG_ID TPM_ALG_NULL = 0x0010;
inline constexpr TPM_ALG_ID TPM_ALG_SM4 = 0x0013;
inline constexpr TPM_ALG_ID TPM_ALG_RSASSA = 0x0014;
inline constexpr TPM_ALG_ID TPM_ALG_RSAES = 0x0015;
inline constexpr TPM_ALG_ID TPM_ALG_RSAPSS = 0x0016;
inline constexpr TPM_ALG_ID TPM_ALG_OAEP = 0x0017;
inline constexpr TPM_ALG_ID TPM_ALG_ECDSA = 0x0018;
inline constexpr TPM_ALG_ID TPM_ALG_ECDH = 0x0019;
inline constexpr TPM_ALG_ID TPM_ALG_ECDAA = 0x001A;
inline constexpr TPM_ALG_ID TPM_ALG_ECSCHNORR = 0x001C;
inline constexpr TPM_ALG_ID TPM_ALG_KDF1_SP800_56A = 0x0020;
inline constexpr TPM_ALG_ID TPM_ALG_KDF2 = 0x0021;
inline constexpr TPM_ALG_ID TPM_ALG_KDF1_SP800_108 = 0x0022;
inline constexpr TPM_ALG_ID TPM_ALG_ECC = 0x0023;
inline constexpr TPM_ALG_ID TPM_ALG_SYMCIPHER = 0x0025;
inline constexpr TPM_ALG_ID TPM_ALG_CAMELLIA = 0x0026;
inline constexpr TPM_ALG_ID TPM_ALG_CTR = 0x0040;
inline constexpr TPM_ALG_ID TPM_ALG_OFB = 0x0041;
inline constexpr TPM_ALG_ID TPM_ALG_CBC = 0x0042;
inline constexpr TPM_ALG_ID TPM_ALG_CFB = 0x0043;
inline constexpr TPM_ALG_ID TPM_ALG_ECB = 0x0044;

inline constexpr TPM_ECC_CURVE TPM_ECC_NONE = 0x0000;
inline constexpr TPM_ECC_CURVE TPM_ECC_NIST_P256 = 0x0003;
inline constexpr TPM_ECC_CURVE TPM_ECC_NIST_P384 = 0x0004;
inline constexpr TPM_ECC_CURVE TPM_ECC_NIST_P521 = 0x0005;

// TPMA_ALGORITHM bits
inline constexpr uint32_t TPMA_ALGORITHM_asymmetric = 1u << 0;
inline constexpr uint32_t TPMA_ALGORITHM_symmetric = 1u << 1;
inline constexpr uint32_t TPMA_ALGORITHM_hash = 1u << 2;
inline constexpr uint32_t TPMA_ALGORITHM_object = 1u << 3;
inline constexpr uint32_t TPMA_ALGORITHM_signing = 1u << 8;
inline constexpr uint32_t TPMA_ALGORITHM_encrypting = 1u << 9;
inline constexpr uint32_t TPMA_ALGORITHM_method = 1u << 10;

// ---- handles ----
inline constexpr uint8_t TPM_HT_PCR = 0x00;
inline constexpr uint8_t TPM_HT_NV_INDEX = 0x01;
inline constexpr uint8_t TPM_HT_HMAC_SESSION = 0x02;
inline constexpr uint8_t TPM_HT_LOADED_SESSION = 0x02;
inline constexpr uint8_t TPM_HT_POLICY_SESSION = 0x03;
inline constexpr uint8_t TPM_HT_SAVED_SESSION = 0x03;
inline constexpr uint8_t TPM_HT_PERMANENT = 0x40;
inline constexpr uint8_t TPM_HT_TRANSIENT = 0x80;
inline constexpr uint8_t TPM_HT_PERSISTENT = 0x81;
constexpr uint8_t handle_type(TPM_HANDLE h) { return static_cast<uint8_t>(h >> 24); }

inline constexpr TPM_HANDLE TPM_RH_OWNER = 0x40000001;
inline constexpr TPM_HANDLE TPM_RH_NULL = 0x40000007;
inline constexpr TPM_HANDLE TPM_RS_PW = 0x40000009;
inline constexpr TPM_HANDLE TPM_RH_LOCKOUT = 0x4000000A;
inline constexpr TPM_HANDLE TPM_RH_ENDORSEMENT = 0x4000000B;
inline constexpr TPM_HANDLE TPM_RH_PLATFORM = 0x4000000C;
inline constexpr TPM_HANDLE TPM_RH_PLATFORM_NV = 0x4000000D;
// Authenticated Countdown Timers (Part 2 TPM_RH_ACT_0..F); profile::kNumActs of them exist.
inline constexpr TPM_HANDLE TPM_RH_ACT_0 = 0x40000110;
inline constexpr TPM_HANDLE TPM_RH_ACT_F = 0x4000011F;
inline constexpr uint8_t TPM_HT_AC = 0x90;  // attached components (none exist here)
// TPMA_ACT
inline constexpr uint32_t TPMA_ACT_signaled = 1u << 0;
inline constexpr uint32_t TPMA_ACT_preserveSignaled = 1u << 1;
inline constexpr TPM_HANDLE TRANSIENT_FIRST = 0x80000000;
inline constexpr TPM_HANDLE PERSISTENT_FIRST = 0x81000000;
inline constexpr TPM_HANDLE HMAC_SESSION_FIRST = 0x02000000;
inline constexpr TPM_HANDLE POLICY_SESSION_FIRST = 0x03000000;

// ---- session attributes (TPMA_SESSION) ----
inline constexpr uint8_t TPMA_SESSION_continueSession = 0x01;
inline constexpr uint8_t TPMA_SESSION_auditExclusive = 0x02;
inline constexpr uint8_t TPMA_SESSION_auditReset = 0x04;
inline constexpr uint8_t TPMA_SESSION_decrypt = 0x20;
inline constexpr uint8_t TPMA_SESSION_encrypt = 0x40;
inline constexpr uint8_t TPMA_SESSION_audit = 0x80;

// ---- capabilities ----
inline constexpr TPM_CAP TPM_CAP_ALGS = 0x00;
inline constexpr TPM_CAP TPM_CAP_HANDLES = 0x01;
inline constexpr TPM_CAP TPM_CAP_COMMANDS = 0x02;
inline constexpr TPM_CAP TPM_CAP_PP_COMMANDS = 0x03;
inline constexpr TPM_CAP TPM_CAP_AUDIT_COMMANDS = 0x04;
inline constexpr TPM_CAP TPM_CAP_PCRS = 0x05;
inline constexpr TPM_CAP TPM_CAP_TPM_PROPERTIES = 0x06;
inline constexpr TPM_CAP TPM_CAP_PCR_PROPERTIES = 0x07;
inline constexpr TPM_CAP TPM_CAP_ECC_CURVES = 0x08;
inline constexpr TPM_CAP TPM_CAP_AUTH_POLICIES = 0x09;
inline constexpr TPM_CAP TPM_CAP_ACT = 0x0A;
inline constexpr TPM_CAP TPM_CAP_LAST = 0x0A;

inline constexpr TPM_PT PT_GROUP = 0x100;
inline constexpr TPM_PT PT_FIXED = PT_GROUP * 1;
inline constexpr TPM_PT PT_VAR = PT_GROUP * 2;
inline constexpr TPM_PT TPM_PT_FAMILY_INDICATOR = PT_FIXED + 0;
inline constexpr TPM_PT TPM_PT_INPUT_BUFFER = PT_FIXED + 13;
inline constexpr TPM_PT TPM_PT_MAX_COMMAND_SIZE = PT_FIXED + 30;
inline constexpr TPM_PT TPM_PT_MAX_DIGEST = PT_FIXED + 32;
inline constexpr TPM_PT TPM_PT_MAX_CAP_BUFFER = PT_FIXED + 46;
inline constexpr TPM_PT TPM_PT_PERMANENT = PT_VAR + 0;
inline constexpr TPM_PT TPM_PT_STARTUP_CLEAR = PT_VAR + 1;
inline constexpr TPM_PT TPM_PT_AUDIT_COUNTER_1 = PT_VAR + 20;

inline constexpr TPM_PT_PCR TPM_PT_PCR_SAVE = 0x00;
inline constexpr TPM_PT_PCR TPM_PT_PCR_EXTEND_L0 = 0x01;
inline constexpr TPM_PT_PCR TPM_PT_PCR_RESET_L4 = 0x0A;
inline constexpr TPM_PT_PCR TPM_PT_PCR_NO_INCREMENT = 0x11;
inline constexpr TPM_PT_PCR TPM_PT_PCR_DRTM_RESET = 0x12;
inline constexpr TPM_PT_PCR TPM_PT_PCR_POLICY = 0x13;
inline constexpr TPM_PT_PCR TPM_PT_PCR_AUTH = 0x14;

// ---- command codes. One list: table, names and GetCapability all derive from it. ----
inline constexpr TPM_CC TPM_CC_EvictControl = 0x120;
inline constexpr TPM_CC TPM_CC_HierarchyControl = 0x121;
inline constexpr TPM_CC TPM_CC_ChangePPS = 0x124;
inline constexpr TPM_CC TPM_CC_ChangeEPS = 0x125;
inline constexpr TPM_CC TPM_CC_Clear = 0x126;
inline constexpr TPM_CC TPM_CC_ClearControl = 0x127;
inline constexpr TPM_CC TPM_CC_ClockSet = 0x128;
inline constexpr TPM_CC TPM_CC_HierarchyChangeAuth = 0x129;
inline constexpr TPM_CC TPM_CC_SetPrimaryPolicy = 0x12E;
inline constexpr TPM_CC TPM_CC_DictionaryAttackLockReset = 0x139;
inline constexpr TPM_CC TPM_CC_DictionaryAttackParameters = 0x13A;
inline constexpr TPM_CC TPM_CC_CreatePrimary = 0x131;
inline constexpr TPM_CC TPM_CC_ClockRateAdjust = 0x130;
inline constexpr TPM_CC TPM_CC_PCR_Event = 0x13C;
inline constexpr TPM_CC TPM_CC_PCR_Reset = 0x13D;
inline constexpr TPM_CC TPM_CC_PCR_SetAuthPolicy = 0x12C;
inline constexpr TPM_CC TPM_CC_PCR_Allocate = 0x12B;
inline constexpr TPM_CC TPM_CC_FieldUpgradeStart = 0x12F;
inline constexpr TPM_CC TPM_CC_FieldUpgradeData = 0x141;
inline constexpr TPM_CC TPM_CC_FirmwareRead = 0x179;
inline constexpr TPM_CC TPM_CC_SetAlgorithmSet = 0x13F;
inline constexpr TPM_CC TPM_CC_PP_Commands = 0x12D;
inline constexpr TPM_CC TPM_CC_SetCapability = 0x19F;     // 1.83+
inline constexpr TPM_CC TPM_CC_ReadOnlyControl = 0x1A0;   // 1.84
inline constexpr TPM_CC TPM_CC_PolicyTransportSPDM = 0x1A1;  // 1.84
inline constexpr TPM_CC TPM_CC_Vendor_TCG_Test = 0x20000000;  // CC_VEND + 0
inline constexpr TPM_CC TPM_CC_PCR_SetAuthValue = 0x183;
inline constexpr TPM_CC TPM_CC_SequenceComplete = 0x13E;
inline constexpr TPM_CC TPM_CC_IncrementalSelfTest = 0x142;
inline constexpr TPM_CC TPM_CC_SelfTest = 0x143;
inline constexpr TPM_CC TPM_CC_Startup = 0x144;
inline constexpr TPM_CC TPM_CC_Shutdown = 0x145;
inline constexpr TPM_CC TPM_CC_StirRandom = 0x146;
inline constexpr TPM_CC TPM_CC_ECDH_ZGen = 0x154;
inline constexpr TPM_CC TPM_CC_HMAC_Start = 0x15B;
inline constexpr TPM_CC TPM_CC_HMAC = 0x155;
inline constexpr TPM_CC TPM_CC_RSA_Decrypt = 0x159;
inline constexpr TPM_CC TPM_CC_Sign = 0x15D;
inline constexpr TPM_CC TPM_CC_ECDH_KeyGen = 0x163;
inline constexpr TPM_CC TPM_CC_EncryptDecrypt = 0x164;
inline constexpr TPM_CC TPM_CC_RSA_Encrypt = 0x174;
inline constexpr TPM_CC TPM_CC_VerifySignature = 0x177;
inline constexpr TPM_CC TPM_CC_ECC_Parameters = 0x178;
inline constexpr TPM_CC TPM_CC_CreateLoaded = 0x191;
inline constexpr TPM_CC TPM_CC_EncryptDecrypt2 = 0x193;
inline constexpr TPM_CC TPM_CC_ObjectChangeAuth = 0x150;
inline constexpr TPM_CC TPM_CC_Create = 0x153;
inline constexpr TPM_CC TPM_CC_Load = 0x157;
inline constexpr TPM_CC TPM_CC_Unseal = 0x15E;
inline constexpr TPM_CC TPM_CC_SequenceUpdate = 0x15C;
inline constexpr TPM_CC TPM_CC_ContextLoad = 0x161;
inline constexpr TPM_CC TPM_CC_ContextSave = 0x162;
inline constexpr TPM_CC TPM_CC_FlushContext = 0x165;
inline constexpr TPM_CC TPM_CC_LoadExternal = 0x167;
inline constexpr TPM_CC TPM_CC_StartAuthSession = 0x176;
inline constexpr TPM_CC TPM_CC_ReadPublic = 0x173;
inline constexpr TPM_CC TPM_CC_GetCapability = 0x17A;
inline constexpr TPM_CC TPM_CC_GetRandom = 0x17B;
inline constexpr TPM_CC TPM_CC_GetTestResult = 0x17C;
inline constexpr TPM_CC TPM_CC_Hash = 0x17D;
inline constexpr TPM_CC TPM_CC_PCR_Read = 0x17E;
inline constexpr TPM_CC TPM_CC_ReadClock = 0x181;
inline constexpr TPM_CC TPM_CC_PCR_Extend = 0x182;
inline constexpr TPM_CC TPM_CC_EventSequenceComplete = 0x185;
inline constexpr TPM_CC TPM_CC_HashSequenceStart = 0x186;
inline constexpr TPM_CC TPM_CC_TestParms = 0x18A;
inline constexpr TPM_CC TPM_CC_Commit = 0x18B;
inline constexpr TPM_CC TPM_CC_ZGen_2Phase = 0x18D;
inline constexpr TPM_CC TPM_CC_EC_Ephemeral = 0x18E;
inline constexpr TPM_CC TPM_CC_ECC_Encrypt = 0x199;
inline constexpr TPM_CC TPM_CC_ECC_Decrypt = 0x19A;
// Enhanced Authorization (Part 3 chapter 23)
inline constexpr TPM_CC TPM_CC_Duplicate = 0x14B;
inline constexpr TPM_CC TPM_CC_Rewrap = 0x152;
inline constexpr TPM_CC TPM_CC_Import = 0x156;
inline constexpr TPM_CC TPM_CC_PolicyNV = 0x149;
inline constexpr TPM_CC TPM_CC_PolicyCapability = 0x19B;  // 1.83+
inline constexpr TPM_CC TPM_CC_PolicyParameters = 0x19C;  // 1.83+
inline constexpr TPM_CC TPM_CC_PolicySecret = 0x151;
inline constexpr TPM_CC TPM_CC_PolicySigned = 0x160;
inline constexpr TPM_CC TPM_CC_PolicyAuthorize = 0x16A;
inline constexpr TPM_CC TPM_CC_PolicyAuthValue = 0x16B;
inline constexpr TPM_CC TPM_CC_PolicyCommandCode = 0x16C;
inline constexpr TPM_CC TPM_CC_PolicyCounterTimer = 0x16D;
inline constexpr TPM_CC TPM_CC_PolicyCpHash = 0x16E;
inline constexpr TPM_CC TPM_CC_PolicyLocality = 0x16F;
inline constexpr TPM_CC TPM_CC_PolicyNameHash = 0x170;
inline constexpr TPM_CC TPM_CC_PolicyOR = 0x171;
inline constexpr TPM_CC TPM_CC_PolicyTicket = 0x172;
inline constexpr TPM_CC TPM_CC_PolicyPCR = 0x17F;
inline constexpr TPM_CC TPM_CC_PolicyRestart = 0x180;
inline constexpr TPM_CC TPM_CC_PolicyPhysicalPresence = 0x187;
inline constexpr TPM_CC TPM_CC_PolicyDuplicationSelect = 0x188;
inline constexpr TPM_CC TPM_CC_PolicyGetDigest = 0x189;
inline constexpr TPM_CC TPM_CC_PolicyPassword = 0x18C;
inline constexpr TPM_CC TPM_CC_PolicyNvWritten = 0x18F;
inline constexpr TPM_CC TPM_CC_PolicyTemplate = 0x190;
inline constexpr TPM_CC TPM_CC_PolicyAuthorizeNV = 0x192;
inline constexpr TPM_CC TPM_CC_AC_GetCapability = 0x194;
inline constexpr TPM_CC TPM_CC_AC_Send = 0x195;
inline constexpr TPM_CC TPM_CC_Policy_AC_SendSelect = 0x196;
inline constexpr TPM_CC TPM_CC_ACT_SetTimeout = 0x198;

}  // namespace utpm::tpm
