// Authorization of a command's handles by its sessions (Part 1 §19): password, HMAC and
// policy sessions; and the session area of the response.
#pragma once

#include <span>

#include "tpm/core/command.h"

namespace utpm::tpm {

// cpHash = H_alg(commandCode || Names || parameters as sent); rpHash = H_alg(TPM_RC_SUCCESS ||
// commandCode || response parameters as sent). Return the digest length.
size_t cp_hash(Command& c, TPM_ALG_ID alg, std::span<const uint8_t> parameters, uint8_t* out);
size_t rp_hash(Command& c, TPM_ALG_ID alg, std::span<const uint8_t> parameters, uint8_t* out);
// Validates one parsed session entry (handle, attributes, nonce) before any authorization.
// n is the 1-based session number.
TPM_RC check_session_entry(Command& c, const SessionIn& s, unsigned n);
// Authorizes handle i with session i. `parameters` is the command's parameter area as sent.
TPM_RC authorize(Command& c, unsigned i, std::span<const uint8_t> parameters);
// Checks session i that authorizes no handle (i >= the command's authorization count): a
// decrypt/encrypt/audit HMAC or policy session with a valid HMAC keyed by its session key.
TPM_RC check_extra_session(Command& c, unsigned i, std::span<const uint8_t> parameters);
// Finds the sessions that ask for parameter encryption and checks the command allows it
// (before any authorization, so a refused request changes nothing).
TPM_RC check_parameter_encryption(Command& c);
// Decrypts the first command parameter (a TPM2B) in place in `parameters`, a copy of the
// parameter area. Called after authorization: cpHash covers the parameters as sent.
TPM_RC decrypt_parameter(Command& c, std::span<uint8_t> parameters);
// Appends the response session area for every session of the command; `parameters` are the
// response parameters (their first TPM2B is encrypted in place if a session asked).
// Flushes sessions that did not ask to continue.
void write_response_sessions(Command& c, std::span<uint8_t> parameters, Writer& out);

}  // namespace utpm::tpm
