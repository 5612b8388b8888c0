// Command audit and audit sessions (Part 1 "Command Audit" and "Session Audit", Part 3 §18.4,
// §18.5, §21): what the dispatcher does around a command, and the persistent audit state.
//
//   command audit: for a successful command in the list,
//       auditDigest := H_auditAlg(auditDigest || cpHash || rpHash)
//     where a cleared digest (size 0) first becomes auditAlg-sized zeros and increments the
//     audit counter (persistent); SetCommandCodeAuditStatus is always audited.
//   audit session: for each successful command that uses the session with TPMA_SESSION audit,
//       sessionDigest := H_authHash(sessionDigest || cpHash || rpHash)
//     starting from authHash-sized zeros at its first audited use or with auditReset; the
//     session is then the exclusive audit session until a command runs without it as its audit
//     session.
// cpHash and rpHash are those of the parameters as sent (encrypted where a session encrypts).
#pragma once

#include <span>

#include "tpm/core/command.h"

namespace utpm::tpm {

class Tpm;

// The persistent part (record kRecAudit).
void audit_defaults(AuditState& a);  // SHA-256, counter 0, SetCommandCodeAuditStatus listed
void audit_record_write(const AuditState& a, Writer& w);
bool audit_record_read(Reader& r, AuditState& a);
bool audit_listed(const State& st, TPM_CC code);
// Sets or clears one command's bit (implemented commands only; SetCommandCodeAuditStatus stays).
void audit_list_set(State& st, TPM_CC code, bool audited);
// H_auditAlg of the audited command codes, ascending (TPMS_COMMAND_AUDIT_INFO.commandDigest).
void audit_commands_digest(const State& st, TPM2B_DIGEST& out);

// A session entry's audit attributes (check_session_entry): auditExclusive and auditReset only
// with audit (TPM_RC_ATTRIBUTES); auditExclusive only for the exclusive session (TPM_RC_EXCLUSIVE).
TPM_RC audit_check_session(const State& st, TPM_HANDLE session, uint8_t attributes);
// Before dispatch: the cpHashes the command's audits will need.
void audit_begin(Command& c, std::span<const uint8_t> parameters);
// After a successful handler, before the NV commit: a restarted command-audit digest bumps the
// counter (written with the command).
void audit_commit(Command& c);
// In the response session area, after encryption: extends the audit sessions' digests.
void audit_sessions(Command& c, std::span<const uint8_t> response_parameters);
// After the response: extends the command-audit digest and updates the exclusive session.
void audit_end(Command& c, std::span<const uint8_t> response_parameters);

}  // namespace utpm::tpm
