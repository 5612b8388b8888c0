// The one list of implemented commands. Dispatch, names for traces, and
// GetCapability(TPM_CAP_COMMANDS) all read this table.
#include <algorithm>
#include <array>

#include "tpm/commands/commands.h"
#include "tpm/core/command.h"
#include "tpm/tpm.h"

namespace utpm::tpm {
namespace {

using H = HandleKind;
using A = AuthRole;
constexpr uint8_t kSaved = kCmdChangesSavedState;

template <size_t N>
constexpr std::array<CommandInfo, N> sorted(std::array<CommandInfo, N> a) {
  std::sort(a.begin(), a.end(), [](const CommandInfo& x, const CommandInfo& y) { return x.code < y.code; });
  return a;
}

#define CMD(name, flags, n, h0, h1, a0, a1) \
  CommandInfo { TPM_CC_##name, "TPM2_" #name, TPM2_##name, n, {h0, h1, H::none}, {a0, a1, A::none}, flags }

// Listed by chapter for reading; sorted by code at compile time for lookup.
constexpr auto kCommands = sorted(std::array{
    CMD(EvictControl, kCmdNv, 2, H::provision, H::object, A::user, A::none),
    CMD(HierarchyControl, kCmdNv | kSaved, 1, H::hierarchy, H::none, A::user, A::none),
    CMD(ChangePPS, kCmdNv, 1, H::platform, H::none, A::user, A::none),
    CMD(ChangeEPS, kCmdNv, 1, H::platform, H::none, A::user, A::none),
    CMD(Clear, kCmdNv, 1, H::clear, H::none, A::user, A::none),
    CMD(ClearControl, kCmdNv, 1, H::clear, H::none, A::user, A::none),
    CMD(HierarchyChangeAuth, kCmdNv | kCmdDecrypt | kSaved, 1, H::hierarchy_auth, H::none, A::user, A::none),
    CMD(SetPrimaryPolicy, kCmdNv | kCmdDecrypt | kSaved, 1, H::hierarchy_auth, H::none, A::user, A::none),
    CMD(DictionaryAttackLockReset, kCmdNv, 1, H::lockout, H::none, A::user, A::none),
    CMD(DictionaryAttackParameters, kCmdNv, 1, H::lockout, H::none, A::user, A::none),
    CMD(ClockSet, kCmdNv, 1, H::provision, H::none, A::user, A::none),
    CMD(ClockRateAdjust, 0, 1, H::provision, H::none, A::user, A::none),
    CMD(CreatePrimary, kCmdRHandle | kCmdDecrypt | kCmdEncrypt, 1, H::hierarchy_or_null, H::none, A::user, A::none),
    CMD(PCR_Event, kCmdDecrypt | kSaved, 1, H::pcr_or_null, H::none, A::user, A::none),
    CMD(PCR_Reset, kSaved, 1, H::pcr, H::none, A::user, A::none),
    CMD(SequenceComplete, kCmdFlushed | kCmdDecrypt | kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(IncrementalSelfTest, kCmdExtensive, 0, H::none, H::none, A::none, A::none),
    CMD(SelfTest, kCmdExtensive, 0, H::none, H::none, A::none, A::none),
    CMD(Startup, kCmdNv, 0, H::none, H::none, A::none, A::none),
    CMD(Shutdown, kCmdNv, 0, H::none, H::none, A::none, A::none),
    CMD(StirRandom, kCmdDecrypt, 0, H::none, H::none, A::none, A::none),
    CMD(ObjectChangeAuth, kCmdDecrypt | kCmdEncrypt, 2, H::object, H::object, A::admin, A::none),
    CMD(Create, kCmdDecrypt | kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(Load, kCmdRHandle | kCmdDecrypt | kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(Unseal, kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(RSA_Encrypt, kCmdDecrypt | kCmdEncrypt, 1, H::object, H::none, A::none, A::none),
    CMD(RSA_Decrypt, kCmdDecrypt | kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(ECDH_KeyGen, kCmdEncrypt, 1, H::object, H::none, A::none, A::none),
    CMD(ECDH_ZGen, kCmdDecrypt | kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(EncryptDecrypt, kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(EncryptDecrypt2, kCmdDecrypt | kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(HMAC, kCmdDecrypt | kCmdEncrypt, 1, H::object, H::none, A::user, A::none),
    CMD(Sign, kCmdDecrypt, 1, H::object, H::none, A::user, A::none),
    CMD(VerifySignature, kCmdDecrypt, 1, H::object, H::none, A::none, A::none),
    CMD(HMAC_Start, kCmdRHandle, 1, H::object, H::none, A::user, A::none),
    CMD(ECC_Parameters, 0, 0, H::none, H::none, A::none, A::none),
    CMD(CreateLoaded, kCmdRHandle | kCmdDecrypt | kCmdEncrypt, 1, H::parent, H::none, A::user, A::none),
    CMD(SequenceUpdate, kCmdDecrypt, 1, H::object, H::none, A::user, A::none),
    CMD(ContextLoad, kCmdRHandle, 0, H::none, H::none, A::none, A::none),
    CMD(ContextSave, 0, 1, H::context, H::none, A::none, A::none),
    CMD(FlushContext, 0, 0, H::none, H::none, A::none, A::none),
    CMD(LoadExternal, kCmdRHandle | kCmdDecrypt | kCmdEncrypt, 0, H::none, H::none, A::none, A::none),
    CMD(ReadPublic, kCmdEncrypt, 1, H::object, H::none, A::none, A::none),
    CMD(StartAuthSession, kCmdRHandle, 2, H::object_or_null, H::entity_or_null, A::none, A::none),
    CMD(GetCapability, kCmdAllowedInFailure, 0, H::none, H::none, A::none, A::none),
    CMD(GetRandom, kCmdEncrypt, 0, H::none, H::none, A::none, A::none),
    CMD(GetTestResult, kCmdAllowedInFailure, 0, H::none, H::none, A::none, A::none),
    CMD(Hash, kCmdDecrypt | kCmdEncrypt, 0, H::none, H::none, A::none, A::none),
    CMD(PCR_Read, 0, 0, H::none, H::none, A::none, A::none),
    CMD(ReadClock, 0, 0, H::none, H::none, A::none, A::none),
    CMD(PCR_Extend, kSaved, 1, H::pcr_or_null, H::none, A::user, A::none),
    CMD(EventSequenceComplete, kCmdFlushed | kCmdDecrypt | kSaved, 2, H::pcr_or_null, H::object, A::user, A::user),
    CMD(HashSequenceStart, kCmdRHandle | kCmdDecrypt, 0, H::none, H::none, A::none, A::none),
    CMD(TestParms, 0, 0, H::none, H::none, A::none, A::none),
});
#undef CMD

constexpr bool sorted_by_code() {
  for (size_t i = 1; i < std::size(kCommands); ++i)
    if (kCommands[i - 1].code >= kCommands[i].code) return false;
  return true;
}
static_assert(sorted_by_code(), "command table has a duplicate command code");

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
