// Authorization of a command's handles by its sessions (Part 1 §19): password, HMAC and
// policy sessions; and the session area of the response.
#pragma once

#include <span>

#include "tpm/core/command.h"

namespace utpm::tpm {

// Validates one parsed session entry (handle, attributes, nonce) before any authorization.
// n is the 1-based session number.
TPM_RC check_session_entry(Command& c, const SessionIn& s, unsigned n);
// Authorizes handle i with session i. `parameters` is the command's parameter area as sent.
TPM_RC authorize(Command& c, unsigned i, std::span<const uint8_t> parameters);
// Appends the response session area for every session of the command; `parameters` are the
// response parameters. Flushes sessions that did not ask to continue.
void write_response_sessions(Command& c, std::span<const uint8_t> parameters, Writer& out);

}  // namespace utpm::tpm
