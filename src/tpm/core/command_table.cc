// The one list of implemented commands. Dispatch, names for traces, and
// GetCapability(TPM_CAP_COMMANDS) all read this table.
#include <algorithm>
#include <array>
#include <initializer_list>

#include "tpm/commands/commands.h"
#include "tpm/core/command.h"
#include "tpm/tpm.h"
#include "tpm/types/attest.h"
#include "tpm/types/nv.h"

namespace utpm::tpm {
namespace {

using H = HandleKind;
using A = AuthRole;
constexpr CommandFlags kSaved = kCmdChangesSavedState;
constexpr CommandFlags kNvW = kCmdNv | kCmdNvWrite;  // changes an index: its write authorization
// Refused in Read-Only mode (the set the TCG reference TPM marks; docs/engine.md "Read-Only mode").
constexpr CommandFlags kRo = kCmdReadOnlyRefused;

template <size_t N>
constexpr std::array<CommandInfo, N> sorted(std::array<CommandInfo, N> a) {
  std::sort(a.begin(), a.end(), [](const CommandInfo& x, const CommandInfo& y) { return x.code < y.code; });
  return a;
}

// One row: the command's name, its flags, then one {HandleKind, AuthRole} per handle of its
// handle area (up to kMaxCommandHandles; the role may be left out for handles without one).
constexpr CommandInfo make_command(TPM_CC code, const char* name, Handler handler, CommandFlags flags,
                                   std::initializer_list<HandleSpec> handles) {
  CommandInfo c{code, name, handler, static_cast<uint8_t>(handles.size()), {}, {}, flags};
  unsigned i = 0;
  for (const HandleSpec& h : handles) {  // more than kMaxCommandHandles does not compile
    c.handles[i] = h.kind;
    c.auth[i] = h.auth;
    ++i;
  }
  return c;
}
#define CMD(name, flags, ...) make_command(TPM_CC_##name, "TPM2_" #name, TPM2_##name, flags, {__VA_ARGS__})

// Listed by chapter for reading; sorted by code at compile time for lookup.
constexpr auto kCommands = sorted(std::array{
    CMD(EvictControl, kCmdNv | kRo, {H::provision, A::user}, {H::object}),
    CMD(HierarchyControl, kCmdNv | kSaved | kRo, {H::hierarchy, A::user}),
    CMD(ChangePPS, kCmdNv | kRo, {H::platform, A::user}),
    CMD(ChangeEPS, kCmdNv | kRo, {H::platform, A::user}),
    CMD(Clear, kCmdNv | kRo, {H::clear, A::user}),
    CMD(ClearControl, kCmdNv | kRo, {H::clear, A::user}),
    CMD(HierarchyChangeAuth, kCmdNv | kCmdDecrypt | kSaved | kRo, {H::hierarchy_auth, A::user}),
    CMD(SetPrimaryPolicy, kCmdNv | kCmdDecrypt | kSaved | kRo, {H::hierarchy_policy, A::user}),
    CMD(DictionaryAttackLockReset, kCmdNv, {H::lockout, A::user}),
    CMD(DictionaryAttackParameters, kCmdNv | kRo, {H::lockout, A::user}),
    CMD(ClockSet, kCmdNv | kRo, {H::provision, A::user}),
    CMD(ClockRateAdjust, kRo, {H::provision, A::user}),
    // Read-Only mode (1.84): state-clear, so it ends what Shutdown(STATE) saved
    CMD(ReadOnlyControl, kCmdNv | kSaved, {H::platform, A::user}),
    // Chapter 23, Enhanced Authorization (policySession: TPMI_SH_POLICY, no authorization)
    CMD(PolicySigned, kCmdDecrypt | kCmdEncrypt, {H::object}, {H::policy_session}),
    CMD(PolicySecret, kCmdDecrypt | kCmdEncrypt, {H::entity_or_null, A::user}, {H::policy_session}),
    CMD(PolicyTicket, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyOR, 0, {H::policy_session}),
    CMD(PolicyPCR, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyLocality, 0, {H::policy_session}),
    CMD(PolicyCounterTimer, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyCommandCode, 0, {H::policy_session}),
    CMD(PolicyPhysicalPresence, 0, {H::policy_session}),
    CMD(PolicyCpHash, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyNameHash, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyDuplicationSelect, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyAuthorize, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyAuthValue, 0, {H::policy_session}),
    CMD(PolicyPassword, 0, {H::policy_session}),
    CMD(PolicyGetDigest, kCmdEncrypt, {H::policy_session}),
    CMD(PolicyNvWritten, 0, {H::policy_session}),
    CMD(PolicyTemplate, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyRestart, 0, {H::policy_session}),
    CMD(PolicyNV, kCmdDecrypt, {H::nv_auth, A::user}, {H::nv_index}, {H::policy_session}),
    CMD(PolicyAuthorizeNV, 0, {H::nv_auth, A::user}, {H::nv_index}, {H::policy_session}),
    CMD(PolicyCapability, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyParameters, kCmdDecrypt, {H::policy_session}),
    CMD(PolicyTransportSPDM, kCmdDecrypt, {H::policy_session}),
    CMD(CreatePrimary, kCmdRHandle | kCmdDecrypt | kCmdEncrypt | kRo, {H::hierarchy_or_null, A::user}),
    CMD(PCR_Event, kCmdDecrypt | kSaved, {H::pcr_or_null, A::user}),
    CMD(PCR_Reset, kSaved, {H::pcr, A::user}),
    CMD(PCR_Allocate, kCmdNv | kRo, {H::platform, A::user}),
    CMD(SetAlgorithmSet, kCmdNv | kRo, {H::platform, A::user}),
    CMD(PP_Commands, kCmdNv | kRo, {H::platform, A::user}),
    // Field upgrade: done by the platform's own means (commands/field_upgrade.cc)
    CMD(FieldUpgradeStart, kCmdDecrypt | kRo, {H::platform, A::user}, {H::object}),
    CMD(FieldUpgradeData, kCmdDecrypt | kRo),
    CMD(FirmwareRead, kCmdEncrypt),
    CMD(SetCapability, kCmdNv | kCmdDecrypt | kRo, {H::hierarchy_auth, A::user}),
    CMD(Vendor_TCG_Test, kCmdDecrypt | kCmdEncrypt),
    // Chapter 32, Attached Components: none is attached (commands/ac.cc)
    CMD(AC_GetCapability, 0, {H::ac}),
    CMD(AC_Send, kCmdDecrypt, {H::object, A::dup}, {H::nv_auth, A::user}, {H::ac}),
    CMD(Policy_AC_SendSelect, kCmdDecrypt, {H::policy_session}),
    // Chapter 33, Authenticated Countdown Timer (commands/act.cc)
    CMD(ACT_SetTimeout, kSaved, {H::act, A::user}),
    CMD(PCR_SetAuthPolicy, kCmdNv | kCmdDecrypt | kRo, {H::platform, A::user}),
    CMD(PCR_SetAuthValue, kCmdDecrypt | kSaved | kRo, {H::pcr, A::user}),
    CMD(SequenceComplete, kCmdFlushed | kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(IncrementalSelfTest, kCmdExtensive),
    CMD(SelfTest, kCmdExtensive),
    CMD(Startup, kCmdNv),
    CMD(Shutdown, kCmdNv),
    CMD(StirRandom, kCmdDecrypt),
    CMD(ObjectChangeAuth, kCmdDecrypt | kCmdEncrypt | kRo, {H::object, A::admin}, {H::object}),
    CMD(Create, kCmdDecrypt | kCmdEncrypt | kRo, {H::object, A::user}),
    CMD(Load, kCmdRHandle | kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(Unseal, kCmdEncrypt, {H::object, A::user}),
    CMD(MakeCredential, kCmdDecrypt | kCmdEncrypt, {H::object}),
    // Chapter 13, Duplication (newParentHandle/oldParent: TPMI_DH_OBJECT+, TPM_RH_NULL: no outer wrapper)
    CMD(Duplicate, kCmdDecrypt | kCmdEncrypt, {H::object, A::dup}, {H::object_or_null}),
    CMD(Rewrap, kCmdDecrypt | kCmdEncrypt, {H::object_or_null, A::user}, {H::object_or_null}),
    CMD(Import, kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(ActivateCredential, kCmdDecrypt | kCmdEncrypt, {H::object, A::admin}, {H::object, A::user}),
    // Chapter 18, Attestation (signHandle: TPMI_DH_OBJECT+, TPM_RH_NULL gives an unsigned structure)
    CMD(Certify, kCmdDecrypt | kCmdEncrypt, {H::object, A::admin}, {H::object_or_null, A::user}),
    CMD(CertifyCreation, kCmdDecrypt | kCmdEncrypt, {H::object_or_null, A::user}, {H::object}),
    CMD(Quote, kCmdDecrypt | kCmdEncrypt, {H::object_or_null, A::user}),
    CMD(GetTime, kCmdDecrypt | kCmdEncrypt, {H::endorsement, A::user}, {H::object_or_null, A::user}),
    CMD(NV_Certify, kCmdDecrypt | kCmdEncrypt, {H::object_or_null, A::user}, {H::nv_auth, A::user}, {H::nv_index}),
    CMD(GetSessionAuditDigest, kCmdDecrypt | kCmdEncrypt, {H::endorsement, A::user}, {H::object_or_null, A::user},
        {H::hmac_session}),
    CMD(GetCommandAuditDigest, kCmdDecrypt | kCmdEncrypt, {H::endorsement, A::user},
        {H::object_or_null, A::user}),
    CMD(CertifyX509, kCmdDecrypt | kCmdEncrypt, {H::object, A::admin}, {H::object_or_null, A::user}),
    // Chapter 21, Command audit
    CMD(SetCommandCodeAuditStatus, kCmdNv | kRo, {H::provision, A::user}),
    CMD(RSA_Encrypt, kCmdDecrypt | kCmdEncrypt, {H::object}),
    CMD(RSA_Decrypt, kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(ECDH_KeyGen, kCmdEncrypt, {H::object}),
    CMD(ECDH_ZGen, kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(ZGen_2Phase, kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(ECC_Encrypt, kCmdDecrypt | kCmdEncrypt, {H::object}),
    CMD(ECC_Decrypt, kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    // Chapter 19: ephemeral EC keys
    CMD(Commit, kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(EC_Ephemeral, kCmdEncrypt),
    CMD(EncryptDecrypt, kCmdEncrypt, {H::object, A::user}),
    CMD(EncryptDecrypt2, kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(HMAC, kCmdDecrypt | kCmdEncrypt, {H::object, A::user}),
    CMD(Sign, kCmdDecrypt, {H::object, A::user}),
    CMD(VerifySignature, kCmdDecrypt, {H::object}),
    CMD(HMAC_Start, kCmdRHandle, {H::object, A::user}),
    CMD(ECC_Parameters, 0),
    CMD(CreateLoaded, kCmdRHandle | kCmdDecrypt | kCmdEncrypt | kRo, {H::parent, A::user}),
    CMD(SequenceUpdate, kCmdDecrypt, {H::object, A::user}),
    CMD(ContextLoad, kCmdRHandle),
    CMD(ContextSave, 0, {H::context}),
    CMD(FlushContext, 0),
    CMD(LoadExternal, kCmdRHandle | kCmdDecrypt | kCmdEncrypt),
    CMD(ReadPublic, kCmdEncrypt, {H::object}),
    CMD(StartAuthSession, kCmdRHandle, {H::object_or_null}, {H::entity_or_null}),
    CMD(GetCapability, kCmdAllowedInFailure),
    CMD(GetRandom, kCmdEncrypt),
    CMD(GetTestResult, kCmdAllowedInFailure),
    CMD(Hash, kCmdDecrypt | kCmdEncrypt),
    CMD(PCR_Read, 0),
    CMD(ReadClock, 0),
    CMD(PCR_Extend, kSaved, {H::pcr_or_null, A::user}),
    CMD(EventSequenceComplete, kCmdFlushed | kCmdDecrypt | kSaved, {H::pcr_or_null, A::user}, {H::object, A::user}),
    CMD(HashSequenceStart, kCmdRHandle | kCmdDecrypt),
    CMD(TestParms, 0),
    CMD(NV_DefineSpace, kCmdNv | kCmdDecrypt | kRo, {H::provision, A::user}),
    CMD(NV_UndefineSpace, kCmdNv | kRo, {H::provision, A::user}, {H::nv_index}),
    CMD(NV_UndefineSpaceSpecial, kCmdNv | kRo, {H::nv_index, A::admin}, {H::platform, A::user}),
    CMD(NV_ReadPublic, kCmdEncrypt, {H::nv_index}),
    CMD(NV_Write, kNvW | kCmdDecrypt, {H::nv_auth, A::user}, {H::nv_index}),
    CMD(NV_Increment, kNvW | kRo, {H::nv_auth, A::user}, {H::nv_index}),
    CMD(NV_Extend, kNvW | kCmdDecrypt, {H::nv_auth, A::user}, {H::nv_index}),
    CMD(NV_SetBits, kNvW, {H::nv_auth, A::user}, {H::nv_index}),
    CMD(NV_WriteLock, kNvW, {H::nv_auth, A::user}, {H::nv_index}),
    CMD(NV_GlobalWriteLock, kCmdNv | kRo, {H::provision, A::user}),
    CMD(NV_Read, kCmdEncrypt, {H::nv_auth, A::user}, {H::nv_index}),
    CMD(NV_ReadLock, kCmdNv, {H::nv_auth, A::user}, {H::nv_index}),
    CMD(NV_ChangeAuth, kCmdNv | kCmdDecrypt | kRo, {H::nv_index, A::admin}),
    CMD(NV_DefineSpace2, kCmdNv | kCmdDecrypt | kRo, {H::provision, A::user}),
    CMD(NV_ReadPublic2, kCmdEncrypt, {H::nv_index_exp}),
});
#undef CMD

constexpr bool sorted_by_code() {
  for (size_t i = 1; i < std::size(kCommands); ++i)
    if (kCommands[i - 1].code >= kCommands[i].code) return false;
  return true;
}
static_assert(sorted_by_code(), "command table has a duplicate command code");

// Handles that need authorization come first (Part 3 convention: the i-th session authorizes
// the i-th handle), and no handle kind is "none" within the handle count.
constexpr bool handles_well_formed() {
  for (const CommandInfo& c : kCommands) {
    bool auth_done = false;
    for (unsigned i = 0; i < c.handle_count; ++i) {
      if (c.handles[i] == HandleKind::none) return false;
      if (c.auth[i] == AuthRole::none) auth_done = true;
      else if (auth_done) return false;
    }
  }
  return true;
}
static_assert(handles_well_formed(), "command table: a handle without a kind, or an authorized handle after one without");

}  // namespace

const CommandInfo* find_command(TPM_CC code) {
  auto it = std::lower_bound(std::begin(kCommands), std::end(kCommands), code,
                             [](const CommandInfo& c, TPM_CC v) { return c.code < v; });
  return it != std::end(kCommands) && it->code == code ? it : nullptr;
}

CommandTable command_table() { return {std::begin(kCommands), std::end(kCommands)}; }

const char* command_name(uint32_t code) {
  const CommandInfo* c = find_command(code);
  return c ? c->name : nullptr;
}

}  // namespace utpm::tpm
