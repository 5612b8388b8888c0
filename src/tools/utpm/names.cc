#include "tools/utpm/names.h"

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tpm2_types.h>

#include <cstdio>
#include <span>

#include "tpm/tpm.h"

namespace utpm::tool {
namespace {

struct Named {
  uint32_t v;
  const char* n;
};
std::string find(std::span<const Named> t, uint32_t v) {
  for (const Named& x : t)
    if (x.v == v) return x.n;
  return "";
}
std::string bits(std::span<const Named> t, uint32_t v) {
  std::string s;
  for (const Named& x : t)
    if (v & x.v) s += (s.empty() ? "" : "|") + std::string(x.n);
  return s;
}

constexpr Named kAlgs[] = {
    {0x0001, "TPM_ALG_RSA"}, {0x0003, "TPM_ALG_TDES"}, {0x0004, "TPM_ALG_SHA1"}, {0x0005, "TPM_ALG_HMAC"},
    {0x0006, "TPM_ALG_AES"}, {0x0007, "TPM_ALG_MGF1"}, {0x0008, "TPM_ALG_KEYEDHASH"}, {0x000A, "TPM_ALG_XOR"},
    {0x000B, "TPM_ALG_SHA256"}, {0x000C, "TPM_ALG_SHA384"}, {0x000D, "TPM_ALG_SHA512"},
    {0x0010, "TPM_ALG_NULL"}, {0x0012, "TPM_ALG_SM3_256"}, {0x0013, "TPM_ALG_SM4"},
    {0x0014, "TPM_ALG_RSASSA"}, {0x0015, "TPM_ALG_RSAES"}, {0x0016, "TPM_ALG_RSAPSS"}, {0x0017, "TPM_ALG_OAEP"},
    {0x0018, "TPM_ALG_ECDSA"}, {0x0019, "TPM_ALG_ECDH"}, {0x001A, "TPM_ALG_ECDAA"}, {0x001B, "TPM_ALG_SM2"},
    {0x001C, "TPM_ALG_ECSCHNORR"}, {0x001D, "TPM_ALG_ECMQV"}, {0x0020, "TPM_ALG_KDF1_SP800_56A"},
    {0x0021, "TPM_ALG_KDF2"}, {0x0022, "TPM_ALG_KDF1_SP800_108"}, {0x0023, "TPM_ALG_ECC"},
    {0x0025, "TPM_ALG_SYMCIPHER"}, {0x0026, "TPM_ALG_CAMELLIA"}, {0x0027, "TPM_ALG_SHA3_256"},
    {0x0028, "TPM_ALG_SHA3_384"}, {0x0029, "TPM_ALG_SHA3_512"}, {0x003F, "TPM_ALG_CMAC"},
    {0x0040, "TPM_ALG_CTR"}, {0x0041, "TPM_ALG_OFB"}, {0x0042, "TPM_ALG_CBC"}, {0x0043, "TPM_ALG_CFB"},
    {0x0044, "TPM_ALG_ECB"},
};
constexpr Named kCurves[] = {{0x0001, "TPM_ECC_NIST_P192"}, {0x0002, "TPM_ECC_NIST_P224"},
                             {0x0003, "TPM_ECC_NIST_P256"}, {0x0004, "TPM_ECC_NIST_P384"},
                             {0x0005, "TPM_ECC_NIST_P521"}, {0x0010, "TPM_ECC_BN_P256"},
                             {0x0011, "TPM_ECC_BN_P638"},   {0x0020, "TPM_ECC_SM2_P256"}};
constexpr Named kSt[] = {{0x00C4, "TPM_ST_RSP_COMMAND"}, {0x8000, "TPM_ST_NULL"}, {0x8001, "TPM_ST_NO_SESSIONS"},
                         {0x8002, "TPM_ST_SESSIONS"}, {0x8014, "TPM_ST_ATTEST_NV"},
                         {0x8015, "TPM_ST_ATTEST_COMMAND_AUDIT"}, {0x8016, "TPM_ST_ATTEST_SESSION_AUDIT"},
                         {0x8017, "TPM_ST_ATTEST_CERTIFY"}, {0x8018, "TPM_ST_ATTEST_QUOTE"},
                         {0x8019, "TPM_ST_ATTEST_TIME"}, {0x801A, "TPM_ST_ATTEST_CREATION"},
                         {0x8021, "TPM_ST_CREATION"}, {0x8022, "TPM_ST_VERIFIED"}, {0x8023, "TPM_ST_AUTH_SECRET"},
                         {0x8024, "TPM_ST_HASHCHECK"}, {0x8025, "TPM_ST_AUTH_SIGNED"}, {0x8029, "TPM_ST_FU_MANIFEST"}};
constexpr Named kRh[] = {{0x40000001, "TPM_RH_OWNER"},    {0x40000007, "TPM_RH_NULL"},
                         {0x40000009, "TPM_RS_PW"},       {0x4000000A, "TPM_RH_LOCKOUT"},
                         {0x4000000B, "TPM_RH_ENDORSEMENT"}, {0x4000000C, "TPM_RH_PLATFORM"},
                         {0x4000000D, "TPM_RH_PLATFORM_NV"}, {0x40000010, "TPM_RH_AUTH_00"}};
constexpr Named kCap[] = {{0x00, "TPM_CAP_ALGS"},          {0x01, "TPM_CAP_HANDLES"},
                          {0x02, "TPM_CAP_COMMANDS"},      {0x03, "TPM_CAP_PP_COMMANDS"},
                          {0x04, "TPM_CAP_AUDIT_COMMANDS"}, {0x05, "TPM_CAP_PCRS"},
                          {0x06, "TPM_CAP_TPM_PROPERTIES"}, {0x07, "TPM_CAP_PCR_PROPERTIES"},
                          {0x08, "TPM_CAP_ECC_CURVES"},    {0x09, "TPM_CAP_AUTH_POLICIES"},
                          {0x0A, "TPM_CAP_ACT"},           {0x100, "TPM_CAP_VENDOR_PROPERTY"}};
// Part 3 command codes the engine does not implement (its table names its own); values from
// the TSS headers.
#define UTPM_TSS_CC(x) {TPM2_CC_##x, "TPM2_" #x}
constexpr Named kCc[] = {
    UTPM_TSS_CC(PCR_Allocate), UTPM_TSS_CC(PCR_SetAuthPolicy), UTPM_TSS_CC(PP_Commands), UTPM_TSS_CC(FieldUpgradeStart),
    UTPM_TSS_CC(GetCommandAuditDigest), UTPM_TSS_CC(SetAlgorithmSet), UTPM_TSS_CC(SetCommandCodeAuditStatus), UTPM_TSS_CC(FieldUpgradeData),
    UTPM_TSS_CC(ActivateCredential), UTPM_TSS_CC(Certify), UTPM_TSS_CC(PolicyNV), UTPM_TSS_CC(CertifyCreation),
    UTPM_TSS_CC(Duplicate), UTPM_TSS_CC(GetTime), UTPM_TSS_CC(GetSessionAuditDigest), UTPM_TSS_CC(Rewrap),
    UTPM_TSS_CC(Import), UTPM_TSS_CC(Quote), UTPM_TSS_CC(MakeCredential), UTPM_TSS_CC(FirmwareRead),
    UTPM_TSS_CC(PCR_SetAuthValue), UTPM_TSS_CC(NV_Certify), UTPM_TSS_CC(Commit), UTPM_TSS_CC(ZGen_2Phase),
    UTPM_TSS_CC(EC_Ephemeral), UTPM_TSS_CC(PolicyAuthorizeNV), UTPM_TSS_CC(AC_GetCapability), UTPM_TSS_CC(AC_Send),
    UTPM_TSS_CC(Policy_AC_SendSelect), UTPM_TSS_CC(CertifyX509), UTPM_TSS_CC(ACT_SetTimeout), UTPM_TSS_CC(Vendor_TCG_Test),
};
#undef UTPM_TSS_CC
constexpr Named kObject[] = {{1u << 1, "fixedTPM"},   {1u << 2, "stClear"},          {1u << 4, "fixedParent"},
                             {1u << 5, "sensitiveDataOrigin"}, {1u << 6, "userWithAuth"},
                             {1u << 7, "adminWithPolicy"}, {1u << 10, "noDA"}, {1u << 11, "encryptedDuplication"},
                             {1u << 16, "restricted"}, {1u << 17, "decrypt"},  {1u << 18, "sign"},
                             {1u << 19, "x509sign"}};
constexpr Named kNv[] = {{1u << 0, "PPWRITE"},     {1u << 1, "OWNERWRITE"},   {1u << 2, "AUTHWRITE"},
                         {1u << 3, "POLICYWRITE"}, {1u << 10, "POLICY_DELETE"}, {1u << 11, "WRITELOCKED"},
                         {1u << 12, "WRITEALL"},   {1u << 13, "WRITEDEFINE"}, {1u << 14, "WRITE_STCLEAR"},
                         {1u << 15, "GLOBALLOCK"}, {1u << 16, "PPREAD"},     {1u << 17, "OWNERREAD"},
                         {1u << 18, "AUTHREAD"},   {1u << 19, "POLICYREAD"}, {1u << 25, "NO_DA"},
                         {1u << 26, "ORDERLY"},    {1u << 27, "CLEAR_STCLEAR"}, {1u << 28, "READLOCKED"},
                         {1u << 29, "WRITTEN"},    {1u << 30, "PLATFORMCREATE"}, {1u << 31, "READ_STCLEAR"}};
constexpr Named kNt[] = {{0, "TPM_NT_ORDINARY"}, {1, "TPM_NT_COUNTER"}, {2, "TPM_NT_BITS"},
                         {4, "TPM_NT_EXTEND"},   {8, "TPM_NT_PIN_FAIL"}, {9, "TPM_NT_PIN_PASS"}};
constexpr Named kSession[] = {{0x01, "continueSession"}, {0x02, "auditExclusive"}, {0x04, "auditReset"},
                              {0x20, "decrypt"},         {0x40, "encrypt"},        {0x80, "audit"}};
constexpr Named kLocality[] = {{0x01, "TPM_LOC_ZERO"}, {0x02, "TPM_LOC_ONE"}, {0x04, "TPM_LOC_TWO"},
                               {0x08, "TPM_LOC_THREE"}, {0x10, "TPM_LOC_FOUR"}};
constexpr Named kSu[] = {{0, "TPM_SU_CLEAR"}, {1, "TPM_SU_STATE"}};
constexpr Named kSe[] = {{0, "TPM_SE_HMAC"}, {1, "TPM_SE_POLICY"}, {3, "TPM_SE_TRIAL"}};

}  // namespace

std::string alg_name(uint32_t v) { return find(kAlgs, v); }
std::string curve_name(uint32_t v) { return find(kCurves, v); }
std::string st_name(uint32_t v) { return find(kSt, v); }
std::string cap_name(uint32_t v) { return find(kCap, v); }
std::string su_name(uint32_t v) { return find(kSu, v); }
std::string se_name(uint32_t v) { return find(kSe, v); }
std::string handle_name(uint32_t h) {
  std::string n = find(kRh, h);
  if (!n.empty()) return n;
  switch (h >> 24) {
    case 0x00: return h < 32 ? "PCR " + std::to_string(h) : "PCR";
    case 0x01: return "NV index";
    case 0x02: return "HMAC session";
    case 0x03: return "policy session";
    case 0x40: return "permanent";
    case 0x80: return "transient object";
    case 0x81: return "persistent object";
  }
  return "";
}
std::string cc_name(uint32_t cc) {
  if (const char* n = tpm::command_name(cc)) return n;
  return find(kCc, cc);
}
std::string pt_name(uint32_t pt) {
  static constexpr Named kPt[] = {
      {0x100, "TPM_PT_FAMILY_INDICATOR"}, {0x101, "TPM_PT_LEVEL"}, {0x102, "TPM_PT_REVISION"},
      {0x103, "TPM_PT_DAY_OF_YEAR"}, {0x104, "TPM_PT_YEAR"}, {0x105, "TPM_PT_MANUFACTURER"},
      {0x106, "TPM_PT_VENDOR_STRING_1"}, {0x107, "TPM_PT_VENDOR_STRING_2"}, {0x108, "TPM_PT_VENDOR_STRING_3"},
      {0x109, "TPM_PT_VENDOR_STRING_4"}, {0x10A, "TPM_PT_VENDOR_TPM_TYPE"}, {0x10B, "TPM_PT_FIRMWARE_VERSION_1"},
      {0x10C, "TPM_PT_FIRMWARE_VERSION_2"}, {0x10D, "TPM_PT_INPUT_BUFFER"}, {0x10E, "TPM_PT_HR_TRANSIENT_MIN"},
      {0x10F, "TPM_PT_HR_PERSISTENT_MIN"}, {0x110, "TPM_PT_HR_LOADED_MIN"}, {0x111, "TPM_PT_ACTIVE_SESSIONS_MAX"},
      {0x112, "TPM_PT_PCR_COUNT"}, {0x113, "TPM_PT_PCR_SELECT_MIN"}, {0x114, "TPM_PT_CONTEXT_GAP_MAX"},
      {0x116, "TPM_PT_NV_COUNTERS_MAX"}, {0x117, "TPM_PT_NV_INDEX_MAX"}, {0x118, "TPM_PT_MEMORY"},
      {0x119, "TPM_PT_CLOCK_UPDATE"}, {0x11A, "TPM_PT_CONTEXT_HASH"}, {0x11B, "TPM_PT_CONTEXT_SYM"},
      {0x11C, "TPM_PT_CONTEXT_SYM_SIZE"}, {0x11D, "TPM_PT_ORDERLY_COUNT"}, {0x11E, "TPM_PT_MAX_COMMAND_SIZE"},
      {0x11F, "TPM_PT_MAX_RESPONSE_SIZE"}, {0x120, "TPM_PT_MAX_DIGEST"}, {0x121, "TPM_PT_MAX_OBJECT_CONTEXT"},
      {0x122, "TPM_PT_MAX_SESSION_CONTEXT"}, {0x123, "TPM_PT_PS_FAMILY_INDICATOR"}, {0x12C, "TPM_PT_NV_BUFFER_MAX"},
      {0x12D, "TPM_PT_MODES"}, {0x12E, "TPM_PT_MAX_CAP_BUFFER"}, {0x200, "TPM_PT_PERMANENT"},
      {0x201, "TPM_PT_STARTUP_CLEAR"}, {0x202, "TPM_PT_HR_NV_INDEX"}, {0x203, "TPM_PT_HR_LOADED"},
      {0x204, "TPM_PT_HR_LOADED_AVAIL"}, {0x205, "TPM_PT_HR_ACTIVE"}, {0x206, "TPM_PT_HR_ACTIVE_AVAIL"},
      {0x207, "TPM_PT_HR_TRANSIENT_AVAIL"}, {0x208, "TPM_PT_HR_PERSISTENT"}, {0x209, "TPM_PT_HR_PERSISTENT_AVAIL"},
      {0x20A, "TPM_PT_NV_COUNTERS"}, {0x20B, "TPM_PT_NV_COUNTERS_AVAIL"}, {0x20C, "TPM_PT_ALGORITHM_SET"},
      {0x20D, "TPM_PT_LOADED_CURVES"}, {0x20E, "TPM_PT_LOCKOUT_COUNTER"}, {0x20F, "TPM_PT_MAX_AUTH_FAIL"},
      {0x210, "TPM_PT_LOCKOUT_INTERVAL"}, {0x211, "TPM_PT_LOCKOUT_RECOVERY"}, {0x212, "TPM_PT_NV_WRITE_RECOVERY"},
      {0x213, "TPM_PT_AUDIT_COUNTER_0"}, {0x214, "TPM_PT_AUDIT_COUNTER_1"}};
  return find(kPt, pt);
}
std::string object_attributes(uint32_t v) { return bits(kObject, v); }
std::string nv_attributes(uint32_t v) {
  std::string b = bits(kNv, v), t = find(kNt, (v >> 4) & 0xF);
  if (t.empty()) t = "TPM_NT(" + std::to_string((v >> 4) & 0xF) + ")";
  return b.empty() ? t : b + "|" + t;
}
std::string session_attributes(uint32_t v) { return bits(kSession, v); }
std::string locality_attributes(uint32_t v) {
  if (v >= 32) return "extended locality " + std::to_string(v);
  return bits(kLocality, v);
}
std::string rc_name(uint32_t rc) {
  char buf[64];
  return tpm::rc_to_string(rc, buf);
}
std::string rc_explain(uint32_t rc) {
  const char* s = Tss2_RC_Decode(rc);
  return s ? s : "";
}

}  // namespace utpm::tool
