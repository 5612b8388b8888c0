// Every command handler, grouped by TPM 2.0 Part 3 chapter (one source file per chapter).
#pragma once

#include "tpm/core/command.h"

namespace utpm::tpm {

// Chapter 9, Start-up (startup.cc)
TPM_RC TPM2_Startup(Command& c);
TPM_RC TPM2_Shutdown(Command& c);
// Chapter 10, Testing (testing.cc)
TPM_RC TPM2_SelfTest(Command& c);
TPM_RC TPM2_IncrementalSelfTest(Command& c);
TPM_RC TPM2_GetTestResult(Command& c);
// Chapter 11, Session commands (session.cc)
TPM_RC TPM2_StartAuthSession(Command& c);
// Chapter 12, Object commands (object.cc)
TPM_RC TPM2_Create(Command& c);
TPM_RC TPM2_CreateLoaded(Command& c);
TPM_RC TPM2_Load(Command& c);
TPM_RC TPM2_LoadExternal(Command& c);
TPM_RC TPM2_ReadPublic(Command& c);
TPM_RC TPM2_Unseal(Command& c);
TPM_RC TPM2_ObjectChangeAuth(Command& c);
TPM_RC TPM2_MakeCredential(Command& c);
TPM_RC TPM2_ActivateCredential(Command& c);
// Chapter 13, Duplication commands (duplication.cc)
TPM_RC TPM2_Duplicate(Command& c);
TPM_RC TPM2_Rewrap(Command& c);
TPM_RC TPM2_Import(Command& c);
// Chapter 14, Asymmetric primitives (asymmetric.cc)
TPM_RC TPM2_RSA_Encrypt(Command& c);
TPM_RC TPM2_RSA_Decrypt(Command& c);
TPM_RC TPM2_ECDH_KeyGen(Command& c);
TPM_RC TPM2_ECDH_ZGen(Command& c);
TPM_RC TPM2_ZGen_2Phase(Command& c);
TPM_RC TPM2_ECC_Encrypt(Command& c);
TPM_RC TPM2_ECC_Decrypt(Command& c);
TPM_RC TPM2_Commit(Command& c);
TPM_RC TPM2_EC_Ephemeral(Command& c);
TPM_RC TPM2_ECC_Parameters(Command& c);
// Chapter 15, Symmetric primitives: TPM2_Hash (symmetric.cc)
TPM_RC TPM2_Hash(Command& c);
TPM_RC TPM2_EncryptDecrypt(Command& c);
TPM_RC TPM2_EncryptDecrypt2(Command& c);
TPM_RC TPM2_HMAC(Command& c);
// Chapter 16, Random number generator (random.cc)
TPM_RC TPM2_GetRandom(Command& c);
TPM_RC TPM2_StirRandom(Command& c);
// Chapter 17, Hash/HMAC/event sequences (sequence.cc)
TPM_RC TPM2_HashSequenceStart(Command& c);
TPM_RC TPM2_HMAC_Start(Command& c);
TPM_RC TPM2_SequenceUpdate(Command& c);
TPM_RC TPM2_SequenceComplete(Command& c);
TPM_RC TPM2_EventSequenceComplete(Command& c);
// Chapter 18, Attestation commands (attestation.cc)
TPM_RC TPM2_Certify(Command& c);
TPM_RC TPM2_CertifyCreation(Command& c);
TPM_RC TPM2_Quote(Command& c);
TPM_RC TPM2_GetTime(Command& c);
TPM_RC TPM2_NV_Certify(Command& c);
TPM_RC TPM2_GetSessionAuditDigest(Command& c);
TPM_RC TPM2_GetCommandAuditDigest(Command& c);
TPM_RC TPM2_CertifyX509(Command& c);
// Chapter 20, Signing and signature verification (signature.cc)
TPM_RC TPM2_Sign(Command& c);
TPM_RC TPM2_VerifySignature(Command& c);
// Chapter 21, Command audit (audit.cc)
TPM_RC TPM2_SetCommandCodeAuditStatus(Command& c);
// Chapter 22, Integrity collection (pcr.cc)
TPM_RC TPM2_PCR_Extend(Command& c);
TPM_RC TPM2_PCR_Event(Command& c);
TPM_RC TPM2_PCR_Read(Command& c);
TPM_RC TPM2_PCR_Reset(Command& c);
// Chapter 23, Enhanced Authorization (ea.cc)
TPM_RC TPM2_PolicySigned(Command& c);
TPM_RC TPM2_PCR_SetAuthPolicy(Command& c);
TPM_RC TPM2_PCR_Allocate(Command& c);
TPM_RC TPM2_FieldUpgradeStart(Command& c);
TPM_RC TPM2_FieldUpgradeData(Command& c);
TPM_RC TPM2_FirmwareRead(Command& c);
TPM_RC TPM2_Vendor_TCG_Test(Command& c);
TPM_RC TPM2_AC_GetCapability(Command& c);
TPM_RC TPM2_AC_Send(Command& c);
TPM_RC TPM2_Policy_AC_SendSelect(Command& c);
TPM_RC TPM2_ACT_SetTimeout(Command& c);
TPM_RC TPM2_SetAlgorithmSet(Command& c);
TPM_RC TPM2_PP_Commands(Command& c);
TPM_RC TPM2_SetCapability(Command& c);
TPM_RC TPM2_PCR_SetAuthValue(Command& c);
TPM_RC TPM2_PolicyNV(Command& c);
TPM_RC TPM2_PolicyAuthorizeNV(Command& c);
TPM_RC TPM2_PolicyCapability(Command& c);
TPM_RC TPM2_PolicyParameters(Command& c);
TPM_RC TPM2_PolicySecret(Command& c);
TPM_RC TPM2_PolicyTicket(Command& c);
TPM_RC TPM2_PolicyOR(Command& c);
TPM_RC TPM2_PolicyPCR(Command& c);
TPM_RC TPM2_PolicyLocality(Command& c);
TPM_RC TPM2_PolicyCounterTimer(Command& c);
TPM_RC TPM2_PolicyCommandCode(Command& c);
TPM_RC TPM2_PolicyPhysicalPresence(Command& c);
TPM_RC TPM2_PolicyCpHash(Command& c);
TPM_RC TPM2_PolicyNameHash(Command& c);
TPM_RC TPM2_PolicyDuplicationSelect(Command& c);
TPM_RC TPM2_PolicyAuthorize(Command& c);
TPM_RC TPM2_PolicyAuthValue(Command& c);
TPM_RC TPM2_PolicyPassword(Command& c);
TPM_RC TPM2_PolicyGetDigest(Command& c);
TPM_RC TPM2_PolicyNvWritten(Command& c);
TPM_RC TPM2_PolicyTemplate(Command& c);
TPM_RC TPM2_PolicyRestart(Command& c);
// Chapter 24, Hierarchy commands (hierarchy.cc)
TPM_RC TPM2_CreatePrimary(Command& c);
TPM_RC TPM2_HierarchyControl(Command& c);
TPM_RC TPM2_SetPrimaryPolicy(Command& c);
TPM_RC TPM2_ChangePPS(Command& c);
TPM_RC TPM2_ChangeEPS(Command& c);
TPM_RC TPM2_Clear(Command& c);
TPM_RC TPM2_ClearControl(Command& c);
TPM_RC TPM2_HierarchyChangeAuth(Command& c);
TPM_RC TPM2_ReadOnlyControl(Command& c);
TPM_RC TPM2_PolicyTransportSPDM(Command& c);
// Chapter 25, Dictionary attack functions (da.cc)
TPM_RC TPM2_DictionaryAttackLockReset(Command& c);
TPM_RC TPM2_DictionaryAttackParameters(Command& c);
// Chapter 28, Context management (context.cc)
TPM_RC TPM2_ContextSave(Command& c);
TPM_RC TPM2_ContextLoad(Command& c);
TPM_RC TPM2_FlushContext(Command& c);
TPM_RC TPM2_EvictControl(Command& c);
// Chapter 29, Clocks and timers (clock.cc)
TPM_RC TPM2_ReadClock(Command& c);
TPM_RC TPM2_ClockSet(Command& c);
TPM_RC TPM2_ClockRateAdjust(Command& c);
// Chapter 30, Capability commands (capability.cc)
TPM_RC TPM2_GetCapability(Command& c);
TPM_RC TPM2_TestParms(Command& c);
// The one entry of `capability` keyed by `property`, marshalled as GetCapability lists it, into
// out (size 0: no such entry). TPM_RC_HANDLE: a handle type without a list; TPM_RC_VALUE: a
// capability without single entries (or an AUTH_POLICIES property that is not permanent).
TPM_RC capability_entry(Tpm& tpm, TPM_CAP capability, uint32_t property, std::span<uint8_t> out, size_t& size);
// Chapter 31, Non-volatile storage (nv.cc)
TPM_RC TPM2_NV_DefineSpace(Command& c);
TPM_RC TPM2_NV_UndefineSpace(Command& c);
TPM_RC TPM2_NV_UndefineSpaceSpecial(Command& c);
TPM_RC TPM2_NV_ReadPublic(Command& c);
TPM_RC TPM2_NV_DefineSpace2(Command& c);
TPM_RC TPM2_NV_ReadPublic2(Command& c);
TPM_RC TPM2_NV_Write(Command& c);
TPM_RC TPM2_NV_Increment(Command& c);
TPM_RC TPM2_NV_Extend(Command& c);
TPM_RC TPM2_NV_SetBits(Command& c);
TPM_RC TPM2_NV_WriteLock(Command& c);
TPM_RC TPM2_NV_GlobalWriteLock(Command& c);
TPM_RC TPM2_NV_Read(Command& c);
TPM_RC TPM2_NV_ReadLock(Command& c);
TPM_RC TPM2_NV_ChangeAuth(Command& c);

}  // namespace utpm::tpm
