// Pins our spec-named constants to the values in the TSS headers (Debian libtss2-dev), so a
// typo in a response or command code cannot go unnoticed.
#include "tpm/types/constants.h"

#include <gtest/gtest.h>
#include <tss2/tss2_tpm2_types.h>

#include "tpm/tpm.h"
#include "tpm/types/attest.h"

namespace utpm::tpm {
namespace {

#define SAME(ours, theirs) static_assert(ours == theirs, #ours)
SAME(TPM_RC_INITIALIZE, TPM2_RC_INITIALIZE);
SAME(TPM_RC_FAILURE, TPM2_RC_FAILURE);
SAME(TPM_RC_COMMAND_SIZE, TPM2_RC_COMMAND_SIZE);
SAME(TPM_RC_COMMAND_CODE, TPM2_RC_COMMAND_CODE);
SAME(TPM_RC_AUTHSIZE, TPM2_RC_AUTHSIZE);
SAME(TPM_RC_AUTH_MISSING, TPM2_RC_AUTH_MISSING);
SAME(TPM_RC_NV_UNAVAILABLE, TPM2_RC_NV_UNAVAILABLE);
SAME(TPM_RC_VALUE, TPM2_RC_VALUE);
SAME(TPM_RC_HASH, TPM2_RC_HASH);
SAME(TPM_RC_SIZE, TPM2_RC_SIZE);
SAME(TPM_RC_INSUFFICIENT, TPM2_RC_INSUFFICIENT);
SAME(TPM_RC_SELECTOR, TPM2_RC_SELECTOR);
SAME(TPM_RC_BAD_AUTH, TPM2_RC_BAD_AUTH);
SAME(TPM_RC_AUTH_FAIL, TPM2_RC_AUTH_FAIL);
SAME(TPM_RC_LOCALITY, TPM2_RC_LOCALITY);
SAME(TPM_RC_OBJECT_MEMORY, TPM2_RC_OBJECT_MEMORY);
SAME(TPM_RC_REFERENCE_H0, TPM2_RC_REFERENCE_H0);
SAME(TPM_RC_REFERENCE_S0, TPM2_RC_REFERENCE_S0);
SAME(TPM_RC_LOCKOUT, TPM2_RC_LOCKOUT);
SAME(TPM_RC_NV_SPACE, TPM2_RC_NV_SPACE);
SAME(TPM_RC_P, TPM2_RC_P);
SAME(TPM_RC_S, TPM2_RC_S);
SAME(TPM_CC_Startup, TPM2_CC_Startup);
SAME(TPM_CC_Shutdown, TPM2_CC_Shutdown);
SAME(TPM_CC_SelfTest, TPM2_CC_SelfTest);
SAME(TPM_CC_IncrementalSelfTest, TPM2_CC_IncrementalSelfTest);
SAME(TPM_CC_GetTestResult, TPM2_CC_GetTestResult);
SAME(TPM_CC_GetRandom, TPM2_CC_GetRandom);
SAME(TPM_CC_StirRandom, TPM2_CC_StirRandom);
SAME(TPM_CC_GetCapability, TPM2_CC_GetCapability);
SAME(TPM_CC_TestParms, TPM2_CC_TestParms);
SAME(TPM_CC_PCR_Read, TPM2_CC_PCR_Read);
SAME(TPM_CC_PCR_Extend, TPM2_CC_PCR_Extend);
SAME(TPM_CC_PCR_Event, TPM2_CC_PCR_Event);
SAME(TPM_CC_PCR_Reset, TPM2_CC_PCR_Reset);
SAME(TPM_CC_Hash, TPM2_CC_Hash);
SAME(TPM_CC_HashSequenceStart, TPM2_CC_HashSequenceStart);
SAME(TPM_CC_SequenceUpdate, TPM2_CC_SequenceUpdate);
SAME(TPM_CC_SequenceComplete, TPM2_CC_SequenceComplete);
SAME(TPM_CC_EventSequenceComplete, TPM2_CC_EventSequenceComplete);
SAME(TPM_CC_ReadClock, TPM2_CC_ReadClock);
SAME(TPM_CC_ClockSet, TPM2_CC_ClockSet);
SAME(TPM_CC_ClockRateAdjust, TPM2_CC_ClockRateAdjust);
SAME(TPM_CC_FlushContext, TPM2_CC_FlushContext);
SAME(TPM_CC_Duplicate, TPM2_CC_Duplicate);
SAME(TPM_CC_PolicySecret, TPM2_CC_PolicySecret);
SAME(TPM_CC_PolicySigned, TPM2_CC_PolicySigned);
SAME(TPM_CC_PolicyAuthorize, TPM2_CC_PolicyAuthorize);
SAME(TPM_CC_PolicyAuthValue, TPM2_CC_PolicyAuthValue);
SAME(TPM_CC_PolicyCommandCode, TPM2_CC_PolicyCommandCode);
SAME(TPM_CC_PolicyCounterTimer, TPM2_CC_PolicyCounterTimer);
SAME(TPM_CC_PolicyCpHash, TPM2_CC_PolicyCpHash);
SAME(TPM_CC_PolicyLocality, TPM2_CC_PolicyLocality);
SAME(TPM_CC_PolicyNameHash, TPM2_CC_PolicyNameHash);
SAME(TPM_CC_PolicyOR, TPM2_CC_PolicyOR);
SAME(TPM_CC_PolicyTicket, TPM2_CC_PolicyTicket);
SAME(TPM_CC_PolicyPCR, TPM2_CC_PolicyPCR);
SAME(TPM_CC_PolicyRestart, TPM2_CC_PolicyRestart);
SAME(TPM_CC_PolicyPhysicalPresence, TPM2_CC_PolicyPhysicalPresence);
SAME(TPM_CC_PP_Commands, TPM2_CC_PP_Commands);
SAME(TPM_CC_AC_GetCapability, TPM2_CC_AC_GetCapability);
SAME(TPM_CC_AC_Send, TPM2_CC_AC_Send);
SAME(TPM_CC_Policy_AC_SendSelect, TPM2_CC_Policy_AC_SendSelect);
SAME(TPM_CC_ACT_SetTimeout, TPM2_CC_ACT_SetTimeout);
SAME(TPM_RH_ACT_0, TPM2_RH_ACT_0);
SAME(TPM_RH_ACT_F, TPM2_RH_ACT_F);
SAME(TPMA_ACT_signaled, TPMA_ACT_SIGNALED);
SAME(TPMA_ACT_preserveSignaled, TPMA_ACT_PRESERVESIGNALED);
SAME(TPM_CC_PolicyDuplicationSelect, TPM2_CC_PolicyDuplicationSelect);
SAME(TPM_CC_PolicyGetDigest, TPM2_CC_PolicyGetDigest);
SAME(TPM_CC_PolicyPassword, TPM2_CC_PolicyPassword);
SAME(TPM_CC_PolicyNvWritten, TPM2_CC_PolicyNvWritten);
SAME(TPM_CC_PolicyTemplate, TPM2_CC_PolicyTemplate);
SAME(TPM_RC_POLICY_CC, TPM2_RC_POLICY_CC);
SAME(TPM_RC_POLICY_FAIL, TPM2_RC_POLICY_FAIL);
SAME(TPM_RC_CPHASH, TPM2_RC_CPHASH);
SAME(TPM_RC_PCR_CHANGED, TPM2_RC_PCR_CHANGED);
SAME(TPM_RC_EXPIRED, TPM2_RC_EXPIRED);
SAME(TPM_ST_AUTH_SECRET, TPM2_ST_AUTH_SECRET);
SAME(TPM_ST_AUTH_SIGNED, TPM2_ST_AUTH_SIGNED);
SAME(TPM_ALG_SHA1, TPM2_ALG_SHA1);
SAME(TPM_ALG_SHA256, TPM2_ALG_SHA256);
SAME(TPM_ALG_SHA384, TPM2_ALG_SHA384);
SAME(TPM_ALG_NULL, TPM2_ALG_NULL);
SAME(TPM_ALG_AES, TPM2_ALG_AES);
SAME(TPM_ST_HASHCHECK, TPM2_ST_HASHCHECK);
SAME(TPM_RH_OWNER, TPM2_RH_OWNER);
SAME(TPM_RH_PLATFORM, TPM2_RH_PLATFORM);
SAME(TPM_RH_NULL, TPM2_RH_NULL);
SAME(TPM_RS_PW, TPM2_RS_PW);
SAME(TPM_PT_MAX_DIGEST, TPM2_PT_MAX_DIGEST);
SAME(TPM_PT_AUDIT_COUNTER_1, TPM2_PT_AUDIT_COUNTER_1);
SAME(TPM_PT_PCR_AUTH, TPM2_PT_PCR_AUTH);
SAME(TPM_CAP_LAST, TPM2_CAP_LAST);
SAME(TPM_GENERATED_VALUE, TPM2_GENERATED_VALUE);
SAME(TPM_CC_ActivateCredential, TPM2_CC_ActivateCredential);
SAME(TPM_CC_Certify, TPM2_CC_Certify);
SAME(TPM_CC_CertifyCreation, TPM2_CC_CertifyCreation);
SAME(TPM_CC_GetTime, TPM2_CC_GetTime);
SAME(TPM_CC_Quote, TPM2_CC_Quote);
SAME(TPM_CC_MakeCredential, TPM2_CC_MakeCredential);
SAME(TPM_CC_NV_Certify, TPM2_CC_NV_Certify);
SAME(TPM_CC_GetCommandAuditDigest, TPM2_CC_GetCommandAuditDigest);
SAME(TPM_CC_SetCommandCodeAuditStatus, TPM2_CC_SetCommandCodeAuditStatus);
SAME(TPM_CC_GetSessionAuditDigest, TPM2_CC_GetSessionAuditDigest);
SAME(TPM_CC_CertifyX509, TPM2_CC_CertifyX509);
SAME(TPM_ST_ATTEST_NV, TPM2_ST_ATTEST_NV);
SAME(TPM_ST_ATTEST_COMMAND_AUDIT, TPM2_ST_ATTEST_COMMAND_AUDIT);
SAME(TPM_ST_ATTEST_SESSION_AUDIT, TPM2_ST_ATTEST_SESSION_AUDIT);
SAME(TPM_ST_ATTEST_CERTIFY, TPM2_ST_ATTEST_CERTIFY);
SAME(TPM_ST_ATTEST_QUOTE, TPM2_ST_ATTEST_QUOTE);
SAME(TPM_ST_ATTEST_TIME, TPM2_ST_ATTEST_TIME);
SAME(TPM_ST_ATTEST_CREATION, TPM2_ST_ATTEST_CREATION);
SAME(TPM_RC_EXCLUSIVE, TPM2_RC_EXCLUSIVE);
SAME(TPM_CAP_AUDIT_COMMANDS, TPM2_CAP_AUDIT_COMMANDS);
#undef SAME

TEST(Constants, NumberingPutsParameterHandleAndSessionInTheRightBits) {
  EXPECT_EQ(rc_param(TPM_RC_VALUE, 1), 0x1C4u);
  EXPECT_EQ(rc_handle(TPM_RC_VALUE, 1), 0x184u);
  EXPECT_EQ(rc_session(TPM_RC_BAD_AUTH, 1), 0x9A2u);
  EXPECT_EQ(rc_param(TPM_RC_INITIALIZE, 1), TPM_RC_INITIALIZE) << "format-zero codes carry no number";
  EXPECT_EQ(rc_param(TPM_RC_LOCALITY, 2), TPM_RC_LOCALITY) << "warnings carry no number";
  EXPECT_EQ(rc_param(rc_param(TPM_RC_VALUE, 1), 2), 0x1C4u) << "numbering is applied once";
}

TEST(Constants, CommandNamesAndRcNamesComeFromTheTables) {
  EXPECT_STREQ(command_name(TPM2_CC_GetRandom), "TPM2_GetRandom");
  EXPECT_EQ(command_name(0x12345), nullptr);
  char buf[48];
  EXPECT_STREQ(rc_to_string(0x1C4, buf), "TPM_RC_VALUE+P1");
  EXPECT_STREQ(rc_to_string(0x9A2, buf), "TPM_RC_BAD_AUTH+S1");
  EXPECT_STREQ(rc_to_string(0x184, buf), "TPM_RC_VALUE+H1");
  EXPECT_STREQ(rc_to_string(0x100, buf), "TPM_RC_INITIALIZE");
  EXPECT_STREQ(rc_to_string(0x911, buf), "TPM_RC_REFERENCE_H1");
  EXPECT_STREQ(rc_to_string(0, buf), "TPM_RC_SUCCESS");
  char tiny[5];
  EXPECT_STREQ(rc_to_string(0x100, tiny), "TPM_") << "always NUL-terminated, never overruns";
}

}  // namespace
}  // namespace utpm::tpm
