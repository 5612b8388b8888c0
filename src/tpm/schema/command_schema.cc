// One row a command: {code, name, handles, {parameters}, response handles, {response
// parameters}}. Names and types are Part 3's; each type is the engine's declaration of it.
// A new command is one row here (schema_test checks that every command of the command table
// has one).
#include "tpm/schema/command_schema.h"

#include <algorithm>
#include <array>

#include "firmware/diagnostics.h"
#include "tpm/marshal/describe.h"
#include "tpm/types/attest.h"
#include "tpm/types/capability.h"
#include "tpm/types/nv.h"
#include "tpm/types/object.h"
#include "tpm/types/part2.h"

namespace utpm::tpm::schema {
namespace {

template <class T>
TPM_RC walk_param(describe::Visitor& v, const uint8_t* base, Reader& r, describe::Name name, Writer* reencode) {
  T value{};
  TPM_RC rc = describe::describe(v, base, r, value, name);
  if (rc == TPM_RC_SUCCESS && reencode) marshal(*reencode, value);
  return rc;
}

// A parameter with two forms that only the TPM's state tells apart: the first form that reads
// whole is described (a value neither reads is described as the first, to say where it fails).
template <class A, class B>
TPM_RC walk_either(describe::Visitor& v, const uint8_t* base, Reader& r, describe::Name name, Writer* reencode) {
  Reader trial = r;
  A a{};
  if (unmarshal(trial, a) == TPM_RC_SUCCESS) return walk_param<A>(v, base, r, name, reencode);
  trial = r;
  B b{};
  if (unmarshal(trial, b) == TPM_RC_SUCCESS) return walk_param<B>(v, base, r, name, reencode);
  return walk_param<A>(v, base, r, name, reencode);
}

using INT32 = uint32_t;  // PolicySigned/PolicySecret expiration (two's complement on the wire)

// P(type, name): a parameter whose engine type is the Part 2 type of that name.
// PT(type, "Part 2 name", name): the engine's type for it has another name.
#define P(T, n) Param{#n, #T, &walk_param<T>}
#define PT(T, spec, n) Param{#n, spec, &walk_param<T>}
// TPM2B_TEMPLATE: a TPMT_PUBLIC, or under a derivation parent the derive form (TPMS_DERIVE in
// place of unique); the parent is not in the command, so the form that reads is shown.
#define TEMPLATE(n) Param{#n, "TPM2B_TEMPLATE", &walk_either<TPM2B_PUBLIC, Sized<TPMT_TEMPLATE_DERIVE>>}
#define CC(Name) TPM_CC_##Name, "TPM2_" #Name

constexpr CommandSchema kSchemas[] = {
    // Chapter 9-10: start-up, testing
    {CC(Startup), "", {PT(TPM_SU_CHECKED, "TPM_SU", startupType)}, "", {}},
    {CC(Shutdown), "", {PT(TPM_SU_CHECKED, "TPM_SU", shutdownType)}, "", {}},
    {CC(SelfTest), "", {PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", fullTest)}, "", {}},
    {CC(IncrementalSelfTest), "", {PT(TPML_ALG, "TPML_ALG", toTest)}, "", {PT(TPML_ALG, "TPML_ALG", toDoList)}},
    {CC(GetTestResult), "", {}, "", {P(TPM2B_MAX_BUFFER, outData), PT(TPM_RC_ANY, "TPM_RC", testResult)}},
    // Chapter 11: sessions
    {CC(StartAuthSession), "tpmKey,bind",
     {P(TPM2B_NONCE, nonceCaller), P(TPM2B_ENCRYPTED_SECRET, encryptedSalt), PT(TPM_SE_CHECKED, "TPM_SE", sessionType),
      PT(TPMT_SYM_DEF, "TPMT_SYM_DEF+", symmetric), P(TPMI_ALG_HASH, authHash)},
     "sessionHandle", {P(TPM2B_NONCE, nonceTPM)}},
    {CC(PolicyRestart), "sessionHandle", {}, "", {}},
    // Chapter 12: objects
    {CC(Create), "parentHandle",
     {P(TPM2B_SENSITIVE_CREATE, inSensitive), P(TPM2B_PUBLIC, inPublic), P(TPM2B_DATA, outsideInfo),
      P(TPML_PCR_SELECTION, creationPCR)},
     "",
     {P(TPM2B_PRIVATE, outPrivate), P(TPM2B_PUBLIC, outPublic), P(TPM2B_CREATION_DATA, creationData),
      P(TPM2B_DIGEST, creationHash), P(TPMT_TK_CREATION, creationTicket)}},
    {CC(Load), "parentHandle", {P(TPM2B_PRIVATE, inPrivate), P(TPM2B_PUBLIC, inPublic)}, "objectHandle",
     {P(TPM2B_NAME, name)}},
    {CC(LoadExternal), "",
     {P(TPM2B_SENSITIVE, inPrivate), P(TPM2B_PUBLIC, inPublic), PT(TPMI_RH_HIERARCHY_NULL, "TPMI_RH_HIERARCHY+", hierarchy)},
     "objectHandle", {P(TPM2B_NAME, name)}},
    {CC(ReadPublic), "objectHandle", {}, "",
     {P(TPM2B_PUBLIC, outPublic), P(TPM2B_NAME, name), P(TPM2B_NAME, qualifiedName)}},
    {CC(Unseal), "itemHandle", {}, "", {P(TPM2B_SENSITIVE_DATA, outData)}},
    {CC(ObjectChangeAuth), "objectHandle,parentHandle", {P(TPM2B_AUTH, newAuth)}, "", {P(TPM2B_PRIVATE, outPrivate)}},
    {CC(CreateLoaded), "parentHandle", {P(TPM2B_SENSITIVE_CREATE, inSensitive), TEMPLATE(inPublic)},
     "objectHandle", {P(TPM2B_PRIVATE, outPrivate), P(TPM2B_PUBLIC, outPublic), P(TPM2B_NAME, name)}},
    // Chapter 14: asymmetric primitives
    {CC(RSA_Encrypt), "keyHandle",
     {P(TPM2B_PUBLIC_KEY_RSA, message), PT(TPMT_RSA_DECRYPT, "TPMT_RSA_DECRYPT+", inScheme), P(TPM2B_DATA, label)}, "",
     {P(TPM2B_PUBLIC_KEY_RSA, outData)}},
    {CC(RSA_Decrypt), "keyHandle",
     {P(TPM2B_PUBLIC_KEY_RSA, cipherText), PT(TPMT_RSA_DECRYPT, "TPMT_RSA_DECRYPT+", inScheme), P(TPM2B_DATA, label)}, "",
     {P(TPM2B_PUBLIC_KEY_RSA, message)}},
    {CC(ECDH_KeyGen), "keyHandle", {}, "", {P(TPM2B_ECC_POINT, zPoint), P(TPM2B_ECC_POINT, pubPoint)}},
    {CC(ECDH_ZGen), "keyHandle", {P(TPM2B_ECC_POINT, inPoint)}, "", {P(TPM2B_ECC_POINT, outPoint)}},
    {CC(ZGen_2Phase), "keyA",
     {P(TPM2B_ECC_POINT, inQsB), P(TPM2B_ECC_POINT, inQeB), P(TPMI_ECC_KEY_EXCHANGE, inScheme), PT(uint16_t, "UINT16", counter)},
     "", {P(TPM2B_ECC_POINT, outZ1), P(TPM2B_ECC_POINT, outZ2)}},
    {CC(ECC_Encrypt), "keyHandle", {P(TPM2B_MAX_BUFFER, plainText), PT(TPMT_KDF_SCHEME, "TPMT_KDF_SCHEME+", inScheme)},
     "", {P(TPM2B_ECC_POINT, C1), P(TPM2B_MAX_BUFFER, C2), P(TPM2B_DIGEST, C3)}},
    {CC(ECC_Decrypt), "keyHandle",
     {P(TPM2B_ECC_POINT, C1), P(TPM2B_MAX_BUFFER, C2), P(TPM2B_DIGEST, C3),
      PT(TPMT_KDF_SCHEME, "TPMT_KDF_SCHEME+", inScheme)},
     "", {P(TPM2B_MAX_BUFFER, plainText)}},
    {CC(Commit), "signHandle",
     {PT(TPM2B_ECC_POINT_OPT, "TPM2B_ECC_POINT", P1), P(TPM2B_SENSITIVE_DATA, s2), P(TPM2B_ECC_PARAMETER, y2)}, "",
     {P(TPM2B_ECC_POINT, K), P(TPM2B_ECC_POINT, L), P(TPM2B_ECC_POINT, E), PT(uint16_t, "UINT16", counter)}},
    {CC(EC_Ephemeral), "", {P(TPMI_ECC_CURVE, curveID)}, "", {P(TPM2B_ECC_POINT, Q), PT(uint16_t, "UINT16", counter)}},
    {CC(ECC_Parameters), "", {P(TPMI_ECC_CURVE, curveID)}, "", {P(TPMS_ALGORITHM_DETAIL_ECC, parameters)}},
    // Chapter 15: symmetric primitives
    {CC(EncryptDecrypt), "keyHandle",
     {PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", decrypt), PT(TPMI_ALG_SYM_MODE_NULL, "TPMI_ALG_CIPHER_MODE+", mode),
      P(TPM2B_IV, ivIn), P(TPM2B_MAX_BUFFER, inData)},
     "", {P(TPM2B_MAX_BUFFER, outData), P(TPM2B_IV, ivOut)}},
    {CC(EncryptDecrypt2), "keyHandle",
     {P(TPM2B_MAX_BUFFER, inData), PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", decrypt),
      PT(TPMI_ALG_SYM_MODE_NULL, "TPMI_ALG_CIPHER_MODE+", mode), P(TPM2B_IV, ivIn)},
     "", {P(TPM2B_MAX_BUFFER, outData), P(TPM2B_IV, ivOut)}},
    {CC(Hash), "",
     {P(TPM2B_MAX_BUFFER, data), P(TPMI_ALG_HASH, hashAlg), PT(TPMI_RH_HIERARCHY_NULL, "TPMI_RH_HIERARCHY+", hierarchy)},
     "", {P(TPM2B_DIGEST, outHash), P(TPMT_TK_HASHCHECK, validation)}},
    {CC(HMAC), "handle", {P(TPM2B_MAX_BUFFER, buffer), PT(TPMI_ALG_HASH_NULL, "TPMI_ALG_HASH+", hashAlg)}, "",
     {P(TPM2B_DIGEST, outHMAC)}},
    // Chapter 16: random numbers
    {CC(GetRandom), "", {PT(uint16_t, "UINT16", bytesRequested)}, "", {P(TPM2B_DIGEST, randomBytes)}},
    {CC(StirRandom), "", {P(TPM2B_SENSITIVE_DATA, inData)}, "", {}},
    // Chapter 17: hash/HMAC/event sequences
    {CC(HMAC_Start), "handle", {P(TPM2B_AUTH, auth), PT(TPMI_ALG_HASH_NULL, "TPMI_ALG_HASH+", hashAlg)},
     "sequenceHandle", {}},
    {CC(HashSequenceStart), "", {P(TPM2B_AUTH, auth), PT(TPMI_ALG_HASH_NULL, "TPMI_ALG_HASH+", hashAlg)},
     "sequenceHandle", {}},
    {CC(SequenceUpdate), "sequenceHandle", {P(TPM2B_MAX_BUFFER, buffer)}, "", {}},
    {CC(SequenceComplete), "sequenceHandle",
     {P(TPM2B_MAX_BUFFER, buffer), PT(TPMI_RH_HIERARCHY_NULL, "TPMI_RH_HIERARCHY+", hierarchy)}, "",
     {P(TPM2B_DIGEST, result), P(TPMT_TK_HASHCHECK, validation)}},
    {CC(EventSequenceComplete), "pcrHandle,sequenceHandle", {P(TPM2B_MAX_BUFFER, buffer)}, "",
     {P(TPML_DIGEST_VALUES, results)}},
    // Chapter 20: signing and verification
    {CC(VerifySignature), "keyHandle", {P(TPM2B_DIGEST, digest), P(TPMT_SIGNATURE, signature)}, "",
     {P(TPMT_TK_VERIFIED, validation)}},
    {CC(Sign), "keyHandle",
     {P(TPM2B_DIGEST, digest), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme), P(TPMT_TK_HASHCHECK, validation)}, "",
     {P(TPMT_SIGNATURE, signature)}},
    // Chapter 22: integrity collection (PCR)
    {CC(PCR_Extend), "pcrHandle", {P(TPML_DIGEST_VALUES, digests)}, "", {}},
    {CC(PCR_Event), "pcrHandle", {P(TPM2B_EVENT, eventData)}, "", {P(TPML_DIGEST_VALUES, digests)}},
    {CC(PCR_Read), "", {P(TPML_PCR_SELECTION, pcrSelectionIn)}, "",
     {PT(uint32_t, "UINT32", pcrUpdateCounter), P(TPML_PCR_SELECTION, pcrSelectionOut), P(TPML_DIGEST, pcrValues)}},
    {CC(PCR_Reset), "pcrHandle", {}, "", {}},
    // Miscellaneous management, field upgrade, vendor
    {CC(SetAlgorithmSet), "authHandle", {PT(uint32_t, "UINT32", algorithmSet)}, "", {}},
    {CC(PP_Commands), "auth", {P(TPML_CC, setList), P(TPML_CC, clearList)}, "", {}},
    {CC(FieldUpgradeStart), "authorization,keyHandle", {P(TPM2B_DIGEST, fuDigest), P(TPMT_SIGNATURE, manifestSignature)},
     "", {}},
    {CC(FieldUpgradeData), "", {P(TPM2B_MAX_BUFFER, fuData)}, "", {P(TPMT_HA, nextDigest), P(TPMT_HA, firstDigest)}},
    {CC(FirmwareRead), "", {PT(uint32_t, "UINT32", sequenceNumber)}, "", {P(TPM2B_MAX_BUFFER, fuData)}},
    {CC(Vendor_TCG_Test), "", {P(TPM2B_DATA, inputData)}, "", {P(TPM2B_DATA, outputData)}},
    // Chapter 32: attached components; chapter 33: authenticated countdown timer
    {CC(AC_GetCapability), "ac", {PT(uint32_t, "TPM_AT", capability), PT(uint32_t, "UINT32", count)}, "",
     {PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", moreData), P(TPML_AC_CAPABILITIES, capabilitiesData)}},
    {CC(AC_Send), "sendObject,authHandle,ac", {P(TPM2B_MAX_BUFFER, acDataIn)}, "", {P(TPMS_AC_OUTPUT, acDataOut)}},
    {CC(Policy_AC_SendSelect), "policySession",
     {P(TPM2B_NAME, objectName), P(TPM2B_NAME, authHandleName), P(TPM2B_NAME, acName),
      PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", includeObject)},
     "", {}},
    {CC(ACT_SetTimeout), "actHandle", {PT(uint32_t, "UINT32", startTimeout)}, "", {}},
    {CC(PCR_Allocate), "authHandle", {P(TPML_PCR_SELECTION, pcrAllocation)}, "",
     {PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", allocationSuccess), PT(uint32_t, "UINT32", maxPCR), PT(uint32_t, "UINT32", sizeNeeded),
      PT(uint32_t, "UINT32", sizeAvailable)}},
    // Chapter 23: enhanced authorization
    {CC(PolicySigned), "authObject,policySession",
     {P(TPM2B_NONCE, nonceTPM), P(TPM2B_DIGEST, cpHashA), P(TPM2B_NONCE, policyRef), P(INT32, expiration),
      P(TPMT_SIGNATURE, auth)},
     "", {P(TPM2B_TIMEOUT, timeout), P(TPMT_TK_AUTH, policyTicket)}},
    {CC(PolicySecret), "authHandle,policySession",
     {P(TPM2B_NONCE, nonceTPM), P(TPM2B_DIGEST, cpHashA), P(TPM2B_NONCE, policyRef), P(INT32, expiration)}, "",
     {P(TPM2B_TIMEOUT, timeout), P(TPMT_TK_AUTH, policyTicket)}},
    {CC(PolicyTicket), "policySession",
     {P(TPM2B_TIMEOUT, timeout), P(TPM2B_DIGEST, cpHashA), P(TPM2B_NONCE, policyRef), P(TPM2B_NAME, authName),
      P(TPMT_TK_AUTH, ticket)},
     "", {}},
    {CC(PolicyOR), "policySession", {P(TPML_DIGEST, pHashList)}, "", {}},
    {CC(PolicyPCR), "policySession", {P(TPM2B_DIGEST, pcrDigest), P(TPML_PCR_SELECTION, pcrs)}, "", {}},
    {CC(PolicyLocality), "policySession", {P(TPMA_LOCALITY, locality)}, "", {}},
    {CC(PolicyCounterTimer), "policySession",
     {P(TPM2B_OPERAND, operandB), PT(uint16_t, "UINT16", offset), P(TPM_EO, operation)}, "", {}},
    {CC(PolicyCommandCode), "policySession", {PT(TPM_CC_ANY, "TPM_CC", code)}, "", {}},
    {CC(PolicyPhysicalPresence), "policySession", {}, "", {}},
    {CC(PolicyCpHash), "policySession", {P(TPM2B_DIGEST, cpHashA)}, "", {}},
    {CC(PolicyNameHash), "policySession", {P(TPM2B_DIGEST, nameHash)}, "", {}},
    {CC(PolicyDuplicationSelect), "policySession",
     {P(TPM2B_NAME, objectName), P(TPM2B_NAME, newParentName), PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", includeObject)},
     "", {}},
    {CC(PolicyAuthorize), "policySession",
     {P(TPM2B_DIGEST, approvedPolicy), P(TPM2B_NONCE, policyRef), P(TPM2B_NAME, keySign),
      P(TPMT_TK_VERIFIED, checkTicket)},
     "", {}},
    {CC(PolicyAuthValue), "policySession", {}, "", {}},
    {CC(PolicyPassword), "policySession", {}, "", {}},
    {CC(PolicyGetDigest), "policySession", {}, "", {P(TPM2B_DIGEST, policyDigest)}},
    {CC(PolicyNvWritten), "policySession", {PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", writtenSet)}, "", {}},
    {CC(PolicyTemplate), "policySession", {P(TPM2B_DIGEST, templateHash)}, "", {}},
    // Chapter 24: hierarchy commands
    {CC(CreatePrimary), "primaryHandle",
     {P(TPM2B_SENSITIVE_CREATE, inSensitive), P(TPM2B_PUBLIC, inPublic), P(TPM2B_DATA, outsideInfo),
      P(TPML_PCR_SELECTION, creationPCR)},
     "objectHandle",
     {P(TPM2B_PUBLIC, outPublic), P(TPM2B_CREATION_DATA, creationData), P(TPM2B_DIGEST, creationHash),
      P(TPMT_TK_CREATION, creationTicket), P(TPM2B_NAME, name)}},
    {CC(HierarchyControl), "authHandle", {P(TPMI_RH_ENABLES, enable), PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", state)},
     "", {}},
    {CC(SetPrimaryPolicy), "authHandle", {P(TPM2B_DIGEST, authPolicy), PT(TPMI_ALG_HASH_NULL, "TPMI_ALG_HASH+", hashAlg)},
     "", {}},
    {CC(ChangePPS), "authHandle", {}, "", {}},
    {CC(ChangeEPS), "authHandle", {}, "", {}},
    {CC(Clear), "authHandle", {}, "", {}},
    {CC(ClearControl), "auth", {PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", disable)}, "", {}},
    {CC(ReadOnlyControl), "authHandle", {PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", state)}, "", {}},
    {CC(HierarchyChangeAuth), "authHandle", {P(TPM2B_AUTH, newAuth)}, "", {}},
    // Chapter 25: dictionary attack
    {CC(DictionaryAttackLockReset), "lockHandle", {}, "", {}},
    {CC(DictionaryAttackParameters), "lockHandle",
     {PT(uint32_t, "UINT32", newMaxTries), PT(uint32_t, "UINT32", newRecoveryTime), PT(uint32_t, "UINT32", lockoutRecovery)},
     "", {}},
    // Chapter 28: context management
    {CC(ContextSave), "saveHandle", {}, "", {P(TPMS_CONTEXT, context)}},
    {CC(ContextLoad), "", {P(TPMS_CONTEXT, context)}, "loadedHandle", {}},
    {CC(FlushContext), "", {P(TPMI_DH_CONTEXT, flushHandle)}, "", {}},
    {CC(EvictControl), "auth,objectHandle", {P(TPMI_DH_PERSISTENT, persistentHandle)}, "", {}},
    // Chapter 29: clocks and timers
    {CC(ReadClock), "", {}, "", {P(TPMS_TIME_INFO, currentTime)}},
    {CC(ClockSet), "auth", {PT(uint64_t, "UINT64", newTime)}, "", {}},
    {CC(ClockRateAdjust), "auth", {PT(TPM_CLOCK_ADJUST, "TPM_CLOCK_ADJUST", rateAdjust)}, "", {}},
    // Chapter 30: capability commands
    {CC(GetCapability), "",
     {PT(TPM_CAP_ANY, "TPM_CAP", capability), PT(TPM_PT_ANY, "UINT32", property), PT(uint32_t, "UINT32", propertyCount)},
     "", {PT(TPMI_YES_NO_CHECKED, "TPMI_YES_NO", moreData), P(TPMS_CAPABILITY_DATA, capabilityData)}},
    {CC(TestParms), "", {P(TPMT_PUBLIC_PARMS, parameters)}, "", {}},
    // TPMU_SET_CAPABILITIES has no member in this TPM: the data is shown as the sized buffer it is.
    {CC(SetCapability), "authHandle",
     {PT(Tpm2b<profile::kMaxCapBuffer>, "TPM2B_SET_CAPABILITY_DATA", setCapabilityData)}, "", {}},
    // Chapter 31: non-volatile storage
    {CC(NV_DefineSpace), "authHandle", {P(TPM2B_AUTH, auth), P(TPM2B_NV_PUBLIC, publicInfo)}, "", {}},
    {CC(NV_UndefineSpace), "authHandle,nvIndex", {}, "", {}},
    {CC(NV_UndefineSpaceSpecial), "nvIndex,platform", {}, "", {}},
    {CC(NV_ReadPublic), "nvIndex", {}, "", {P(TPM2B_NV_PUBLIC, nvPublic), P(TPM2B_NAME, nvName)}},
    {CC(NV_Write), "authHandle,nvIndex", {P(TPM2B_MAX_NV_BUFFER, data), PT(uint16_t, "UINT16", offset)}, "", {}},
    {CC(NV_Increment), "authHandle,nvIndex", {}, "", {}},
    {CC(NV_Extend), "authHandle,nvIndex", {P(TPM2B_MAX_NV_BUFFER, data)}, "", {}},
    {CC(NV_SetBits), "authHandle,nvIndex", {PT(uint64_t, "UINT64", bits)}, "", {}},
    {CC(NV_WriteLock), "authHandle,nvIndex", {}, "", {}},
    {CC(NV_GlobalWriteLock), "authHandle", {}, "", {}},
    {CC(NV_Read), "authHandle,nvIndex", {PT(uint16_t, "UINT16", size), PT(uint16_t, "UINT16", offset)}, "",
     {P(TPM2B_MAX_NV_BUFFER, data)}},
    {CC(NV_ReadLock), "authHandle,nvIndex", {}, "", {}},
    {CC(NV_ChangeAuth), "nvIndex", {P(TPM2B_AUTH, newAuth)}, "", {}},
    // Chapter 13: duplication
    {CC(Duplicate), "objectHandle,newParentHandle",
     {P(TPM2B_DATA, encryptionKeyIn), PT(TPMT_SYM_DEF_OBJECT, "TPMT_SYM_DEF_OBJECT+", symmetricAlg)}, "",
     {P(TPM2B_DATA, encryptionKeyOut), P(TPM2B_PRIVATE, duplicate), P(TPM2B_ENCRYPTED_SECRET, outSymSeed)}},
    {CC(Rewrap), "oldParent,newParent",
     {P(TPM2B_PRIVATE, inDuplicate), P(TPM2B_NAME, name), P(TPM2B_ENCRYPTED_SECRET, inSymSeed)}, "",
     {P(TPM2B_PRIVATE, outDuplicate), P(TPM2B_ENCRYPTED_SECRET, outSymSeed)}},
    {CC(Import), "parentHandle",
     {P(TPM2B_DATA, encryptionKey), P(TPM2B_PUBLIC, objectPublic), P(TPM2B_PRIVATE, duplicate),
      P(TPM2B_ENCRYPTED_SECRET, inSymSeed), PT(TPMT_SYM_DEF_OBJECT, "TPMT_SYM_DEF_OBJECT+", symmetricAlg)},
     "", {P(TPM2B_PRIVATE, outPrivate)}},
    // Chapter 12 (credentials), 18 (attestation), 21 (audit)
    {CC(ActivateCredential), "activateHandle,keyHandle",
     {P(TPM2B_ID_OBJECT, credentialBlob), P(TPM2B_ENCRYPTED_SECRET, secret)}, "", {P(TPM2B_DIGEST, certInfo)}},
    {CC(MakeCredential), "handle", {P(TPM2B_DIGEST, credential), P(TPM2B_NAME, objectName)}, "",
     {P(TPM2B_ID_OBJECT, credentialBlob), P(TPM2B_ENCRYPTED_SECRET, secret)}},
    {CC(Certify), "objectHandle,signHandle", {P(TPM2B_DATA, qualifyingData), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme)}, "", {P(TPM2B_ATTEST, certifyInfo), P(TPMT_SIGNATURE, signature)}},
    {CC(CertifyCreation), "signHandle,objectHandle",
     {P(TPM2B_DATA, qualifyingData), P(TPM2B_DIGEST, creationHash), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme), P(TPMT_TK_CREATION, creationTicket)}, "",
     {P(TPM2B_ATTEST, certifyInfo), P(TPMT_SIGNATURE, signature)}},
    {CC(Quote), "signHandle", {P(TPM2B_DATA, qualifyingData), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme), P(TPML_PCR_SELECTION, PCRselect)}, "", {P(TPM2B_ATTEST, quoted), P(TPMT_SIGNATURE, signature)}},
    {CC(GetSessionAuditDigest), "privacyAdminHandle,signHandle,sessionHandle", {P(TPM2B_DATA, qualifyingData), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme)},
     "", {P(TPM2B_ATTEST, auditInfo), P(TPMT_SIGNATURE, signature)}},
    {CC(GetCommandAuditDigest), "privacyHandle,signHandle", {P(TPM2B_DATA, qualifyingData), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme)}, "", {P(TPM2B_ATTEST, auditInfo), P(TPMT_SIGNATURE, signature)}},
    {CC(GetTime), "privacyAdminHandle,signHandle", {P(TPM2B_DATA, qualifyingData), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme)}, "", {P(TPM2B_ATTEST, timeInfo), P(TPMT_SIGNATURE, signature)}},
    {CC(CertifyX509), "objectHandle,signHandle",
     {PT(TPM2B_DATA, "TPM2B_DATA", reserved), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme), PT(TPM2B_MAX_BUFFER, "TPM2B_MAX_BUFFER", partialCertificate)}, "",
     {P(TPM2B_MAX_BUFFER, addedToCertificate), P(TPM2B_DIGEST, tbsDigest), P(TPMT_SIGNATURE, signature)}},
    {CC(NV_Certify), "signHandle,authHandle,nvIndex",
     {P(TPM2B_DATA, qualifyingData), PT(TPMT_SIG_SCHEME, "TPMT_SIG_SCHEME+", inScheme), PT(uint16_t, "UINT16", size), PT(uint16_t, "UINT16", offset)}, "", {P(TPM2B_ATTEST, certifyInfo), P(TPMT_SIGNATURE, signature)}},
    {CC(SetCommandCodeAuditStatus), "auth",
     {PT(TPMI_ALG_HASH_NULL, "TPMI_ALG_HASH+", auditAlg), P(TPML_CC, setList),
      P(TPML_CC, clearList)},
     "", {}},
    // Chapter 22 (PCR authorization), 23 (policy with NV), 31 (NV, 1.83+)
    {CC(PCR_SetAuthPolicy), "authHandle",
     {P(TPM2B_DIGEST, authPolicy), PT(TPMI_ALG_HASH_NULL, "TPMI_ALG_HASH+", hashAlg), PT(uint32_t, "TPMI_DH_PCR", pcrNum)},
     "", {}},
    {CC(PCR_SetAuthValue), "pcrHandle", {P(TPM2B_DIGEST, auth)}, "", {}},
    {CC(PolicyNV), "authHandle,nvIndex,policySession",
     {P(TPM2B_OPERAND, operandB), PT(uint16_t, "UINT16", offset), PT(uint16_t, "TPM_EO", operation)}, "", {}},
    {CC(PolicyAuthorizeNV), "authHandle,nvIndex,policySession", {}, "", {}},
    {CC(PolicyCapability), "policySession",
     {P(TPM2B_OPERAND, operandB), PT(uint16_t, "UINT16", offset), PT(uint16_t, "TPM_EO", operation),
      PT(TPM_CAP_ANY, "TPM_CAP", capability), PT(TPM_PT_ANY, "UINT32", property)},
     "", {}},
    {CC(PolicyParameters), "policySession", {P(TPM2B_DIGEST, pHash)}, "", {}},
    {CC(PolicyTransportSPDM), "policySession", {P(TPM2B_NAME, reqKeyName), P(TPM2B_NAME, tpmKeyName)}, "", {}},
    {CC(NV_DefineSpace2), "authHandle", {P(TPM2B_AUTH, auth), P(TPM2B_NV_PUBLIC_2, publicInfo)}, "", {}},
    {CC(NV_ReadPublic2), "nvIndex", {}, "", {P(TPM2B_NV_PUBLIC_2, nvPublic), P(TPM2B_NAME, nvName)}},
    // Vendor: the utpm firmware's diagnostics, answered by its main loop (not the engine).
    {firmware::kCcFirmwareDiagnostics, "utpm_FirmwareDiagnostics", "", {}, "",
     {PT(firmware::DiagReport, "DiagReport (src/firmware/diagnostics.h)", report)}},
};
#undef P
#undef PT
#undef TEMPLATE
#undef CC

constexpr auto kSorted = [] {
  std::array<CommandSchema, std::size(kSchemas)> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = kSchemas[i];
  std::sort(a.begin(), a.end(), [](const CommandSchema& x, const CommandSchema& y) { return x.code < y.code; });
  return a;
}();
constexpr bool unique_codes() {
  for (size_t i = 1; i < kSorted.size(); ++i)
    if (kSorted[i - 1].code == kSorted[i].code) return false;
  return true;
}
static_assert(unique_codes(), "command schema: a command has two rows");

}  // namespace

const CommandSchema* find_schema(TPM_CC code) {
  auto it = std::lower_bound(kSorted.begin(), kSorted.end(), code,
                             [](const CommandSchema& c, TPM_CC v) { return c.code < v; });
  return it != kSorted.end() && it->code == code ? &*it : nullptr;
}

std::span<const CommandSchema> schemas() { return kSorted; }

}  // namespace utpm::tpm::schema
