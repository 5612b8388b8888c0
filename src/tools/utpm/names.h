// Names of Part 2 constants for printing (algorithms, curves, structure tags, handles,
// capabilities, attribute bits, response codes). Values are Part 2's.
#pragma once

#include <cstdint>
#include <string>

namespace utpm::tool {

std::string alg_name(uint32_t alg);          // "TPM_ALG_SHA256" or ""
std::string curve_name(uint32_t curve);      // "TPM_ECC_NIST_P256" or ""
std::string st_name(uint32_t tag);           // "TPM_ST_SESSIONS" or ""
std::string handle_name(uint32_t handle);    // "TPM_RH_OWNER", "transient", "persistent", ...
std::string cap_name(uint32_t cap);          // "TPM_CAP_ALGS" or ""
std::string cc_name(uint32_t cc);            // "TPM2_Startup" or "" (any Part 3 command)
std::string su_name(uint32_t su);
std::string se_name(uint32_t se);
std::string pt_name(uint32_t pt);
std::string object_attributes(uint32_t v);   // "fixedTPM|fixedParent|..."
std::string nv_attributes(uint32_t v);       // "AUTHREAD|...|TPM_NT_ORDINARY"
std::string session_attributes(uint32_t v);  // "continueSession|..."
std::string locality_attributes(uint32_t v); // "TPM_LOC_ZERO|..."
// A response code: its name with parameter/handle/session number ("TPM_RC_VALUE+P1"), and an
// explanation like tpm2_rc_decode's (tpm2-tss's Tss2_RC_Decode).
std::string rc_name(uint32_t rc);
std::string rc_explain(uint32_t rc);

}  // namespace utpm::tool
